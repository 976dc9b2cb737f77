"""
`python -m benchmark sni_lengths` (the paper's Table 7 measured on an SNI folder) on three fixture
tasks, against lengths counted here from the task files directly, and `python -m benchmark cost
--sni-lengths`, which takes its output instead of the paper's medians.
"""

import json
import statistics

import pytest
from transformers import AutoTokenizer

from benchmark import sni_lengths
from benchmark.__main__ import main as benchmark_main
from benchmark.inference import SniShape
from benchmark.training import TrainingShape
from hint_allennlp.data.tk_format import format_definition
from tests import SNI_FIXTURES, TINY_T5

TASKS = ["task1146_country_capital", "task376_reverse_order_of_words", "task429_senteval_tense"]


def test_medians_are_those_of_the_task_files(tmp_path, capsys):
    split = tmp_path / "train_tasks.txt"
    split.write_text("\n".join(TASKS) + "\n")
    output = tmp_path / "lengths.json"
    benchmark_main(
        [
            "sni_lengths",
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


def test_the_default_shape_is_the_papers_table_7():
    paper = sni_lengths.PAPER_TABLE_7
    assert SniShape() == SniShape.from_medians(paper)
    assert (TrainingShape().instruction, TrainingShape().instance) == (
        paper["definition_two_positives"],
        paper["instance"],
    )


def test_the_benchmark_takes_measured_lengths_instead_of_the_papers(tmp_path):
    lengths = tmp_path / "lengths.json"
    medians = {"instance": 7, "definition": 10, "definition_two_positives": 30, "output": 2}
    lengths.write_text(json.dumps({**medians, "definition_instance": 18}))
    assert SniShape.from_medians(medians) == SniShape(7, 10, 30, 2)
    assert TrainingShape.of_sni(SniShape(7, 10, 30, 2), 4) == TrainingShape(30, 7, batch_size=4)
    benchmark_main(
        ["cost", "--models", "tiny", "--parts", "memory", "--shots", "0,2,3",
         "--sni-lengths", str(lengths), "--output-dir", str(tmp_path)]
    )  # fmt: skip
    rows = json.loads((tmp_path / "results.json").read_text())["models"]["tiny"]["memory"]
    # 10 tokens, 30 at two shots, then 10 more per shot.
    assert [row["instruction_length"] for row in rows] == [10, 30, 40]


def test_lengths_missing_a_median_are_refused_naming_the_file(tmp_path):
    lengths = tmp_path / "lengths.json"
    lengths.write_text(json.dumps({"instance": 7, "definition": 10, "output": 2}))
    with pytest.raises(ValueError, match=r"lengths\.json has no 'definition_two_positives'"):
        benchmark_main(
            [
                "cost",
                "--parts",
                "memory",
                "--sni-lengths",
                str(lengths),
                "--output-dir",
                str(tmp_path),
            ]
        )
