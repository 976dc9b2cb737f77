"""
`scripts/sni_lengths.py` (the paper's Table 7 measured on an SNI folder) on three fixture tasks,
against lengths counted here from the task files directly, and `allennlp hint-benchmark
--sni-lengths`, which takes its output instead of the paper's medians.
"""

import importlib.util
import json
import statistics
import sys

from allennlp.commands import main
from transformers import AutoTokenizer

import hint_allennlp.commands.benchmark  # noqa: F401  (registers hint-benchmark)
from hint_allennlp.benchmarks.inference import SniShape
from hint_allennlp.data.tk_format import format_definition
from tests import PROJECT_ROOT, SNI_FIXTURES, TINY_T5

SCRIPT = PROJECT_ROOT / "scripts" / "sni_lengths.py"
TASKS = ["task1146_country_capital", "task376_reverse_order_of_words", "task429_senteval_tense"]


def load_script():
    spec = importlib.util.spec_from_file_location("sni_lengths", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_medians_are_those_of_the_task_files(tmp_path, capsys):
    split = tmp_path / "train_tasks.txt"
    split.write_text("\n".join(TASKS) + "\n")
    output = tmp_path / "lengths.json"
    load_script().main(
        [
            str(SNI_FIXTURES),
            "--split",
            str(split),
            "--model-name",
            str(TINY_T5),
            "--output",
            str(output),
        ]
    )
    medians = json.loads(output.read_text())
    # Counted here: the instance inputs and the Tk-formatted definitions, every instance of these
    # tasks (20 each, all with an output), without `</s>`.
    tokenizer = AutoTokenizer.from_pretrained(TINY_T5)
    inputs, definitions = [], []
    for task in TASKS:
        data = json.loads((SNI_FIXTURES / "tasks" / f"{task}.json").read_text())
        definition = format_definition(data["Definition"][0])
        for instance in data["Instances"]:
            inputs.append(len(tokenizer(instance["input"]).input_ids) - 1)
            definitions.append(len(tokenizer(definition).input_ids) - 1)
    assert medians["instance"] == statistics.median_low(inputs)
    assert medians["definition"] == statistics.median_low(definitions)
    # Two demonstrations lengthen the instruction, and the concatenated formats hold the instance.
    assert medians["definition_two_positives"] > medians["definition"]
    assert medians["definition_instance"] > medians["definition"] + medians["instance"]
    assert medians["definition_two_positives_instance"] > medians["definition_two_positives"]
    assert medians["output"] >= 1
    assert "| definition_two_positives |" in capsys.readouterr().out


def test_the_benchmark_takes_measured_lengths_instead_of_the_papers(tmp_path, monkeypatch):
    lengths = tmp_path / "lengths.json"
    medians = {"instance": 7, "definition": 10, "definition_two_positives": 30, "output": 2}
    lengths.write_text(json.dumps({**medians, "definition_instance": 18}))
    assert SniShape.from_medians(medians) == SniShape(7, 10, 30, 2)
    monkeypatch.setattr(
        sys,
        "argv",
        ["allennlp", "hint-benchmark", "--models", "tiny", "--parts", "memory", "--shots", "0,2,3",
         "--sni-lengths", str(lengths), "--output-dir", str(tmp_path)],
    )  # fmt: skip
    main(prog="allennlp")
    rows = json.loads((tmp_path / "results.json").read_text())["models"]["tiny"]["memory"]
    # 10 tokens, 30 at two shots, then 10 more per shot.
    assert [row["instruction_length"] for row in rows] == [10, 30, 40]
