"""
The round trip a causal LM's archive makes through the `allennlp` CLI (in this process), shared by
the decoder-only baselines' and HINT-causal's command tests: evaluate on the test tasks; compile a
task (`hint-compile`); predict a whole task file, and the compiled task beside its instruction,
which must predict the same.
"""

import json
from pathlib import Path

from tests import FIXTURES_ROOT, run_allennlp

SNI_TASK = FIXTURES_ROOT / "sni" / "tasks" / "task1146_country_capital.json"


def check_evaluate_compile_and_predict(archive: Path, directory: Path) -> dict:
    """Runs the round trip with its files in `directory`; returns the evaluation's metrics."""
    run_allennlp(
        "evaluate",
        str(archive),
        str(FIXTURES_ROOT / "sni" / "splits" / "test_tasks.txt"),
        "--output-file",
        str(directory / "metrics.json"),
    )
    metrics = json.loads((directory / "metrics.json").read_text())
    assert {"rougeL", "exact_match", "flops", "relative_flops"} <= set(metrics)

    compiled = directory / "compiled"
    run_allennlp("hint-compile", str(archive), str(SNI_TASK), "--output-dir", str(compiled))
    assert (compiled / f"{SNI_TASK.stem}.hint.pt").is_file()
    task = json.loads(SNI_TASK.read_text())
    inputs = directory / "inputs.jsonl"
    inputs.write_text(
        SNI_TASK.read_text().replace("\n", " ")  # a task file on one line: all its instances
        + "\n"
        + json.dumps({"task": SNI_TASK.stem, "input": "Albania"})
        + "\n"
        + json.dumps(
            {
                "instruction": task["Definition"][0],
                "positive_examples": task["Positive Examples"],
                "input": "Albania",
            }
        )
        + "\n"
    )
    run_allennlp(
        "predict",
        str(archive),
        str(inputs),
        "--output-file",
        str(directory / "out.jsonl"),
        "--silent",
        "--predictor-args",
        json.dumps({"compiled_tasks": [str(compiled)]}),
    )
    lines = [json.loads(line) for line in (directory / "out.jsonl").read_text().splitlines()]
    assert len(lines) == len(task["Instances"]) + 2
    assert all(isinstance(line["prediction"], str) for line in lines)
    from_compiled, from_instruction = lines[-2:]
    assert from_compiled["prediction"] == from_instruction["prediction"]
    return metrics
