"""
`allennlp evaluate` on a trained archive: the metrics it prints and the per-instance
predictions file.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.file_reading import DataFormatError
from tests import FIXTURES_ROOT, PROJECT_ROOT, run_allennlp

# Every test here trains, runs an AllenNLP command or starts processes.
pytestmark = pytest.mark.slow

ALLENNLP = str(Path(sys.executable).parent / "allennlp")
TEST_TASK = FIXTURES_ROOT / "sni" / "tasks" / "task1152_bard_analogical_reasoning_causation.json"


def test_evaluate_reports_metrics_and_writes_one_line_per_instance(trained_archive, tmp_path):
    metrics_file, predictions_file = tmp_path / "metrics.json", tmp_path / "predictions.jsonl"
    result = subprocess.run(
        [
            ALLENNLP,
            "evaluate",
            str(trained_archive),
            str(TEST_TASK),
            "--output-file",
            str(metrics_file),
            "--predictions-output-file",
            str(predictions_file),
            "--overrides",
            json.dumps({"evaluation": {"batch_serializer": {"type": "per_instance"}}}),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(metrics_file.read_text())
    assert {"rougeL", "exact_match", "rougeL_word_analogy", "flops", "relative_flops"} <= set(
        metrics
    )
    # The progress line shows the overall figures only (per task and category, SNI's test split
    # made it kilobytes long); the per-task table is logged at the end.
    progress = [line for line in result.stderr.splitlines() if " ||" in line]
    assert progress and all("rougeL: " in line for line in progress), result.stderr[-3000:]
    assert not any("rougeL_" in line or "exact_match_" in line for line in progress)
    assert "InstructionMetrics per task and category:" in result.stderr
    assert 0 < metrics["relative_flops"] < 1  # HINT reads the instruction once for the task

    lines = [json.loads(line) for line in predictions_file.read_text().splitlines()]
    references = [
        instance["output"] for instance in json.loads(TEST_TASK.read_text())["Instances"][:2]
    ]
    # The fixture experiment reads at most 2 instances per task.
    assert [line["references"] for line in lines] == references
    assert all(
        line["task"] == TEST_TASK.stem and isinstance(line["prediction"], str) for line in lines
    )


def test_json_lines_given_to_the_sni_reader_name_the_reader_that_reads_them(
    trained_archive, tmp_path
):
    """
    A valid JSON-lines file given to an archive whose reader is 'sni' used to be reported as
    "malformed JSON (Extra data at line 2)". The error names the reader and the override that
    reads such a file, which then evaluates.
    """
    records = tmp_path / "file.jsonl"
    task = json.loads(TEST_TASK.read_text())
    records.write_text(
        "".join(
            json.dumps(
                {
                    "instruction": task["Definition"][0],
                    "input": instance["input"],
                    "output": instance["output"][0],
                }
            )
            + "\n"
            for instance in task["Instances"][:2]
        )
    )
    with pytest.raises(ConfigurationError) as refused:
        run_allennlp("evaluate", str(trained_archive), str(records))
    message = str(refused.value)
    assert message.startswith(f"{records}: the dataset reader is 'sni'")
    assert "not a .jsonl file" in message and "'instruction_jsonl' reader" in message
    named_json = tmp_path / "file.json"  # the same lines in a file named like a task file
    named_json.write_text(records.read_text())
    with pytest.raises(DataFormatError, match="Extra data.*JSON lines.*'instruction_jsonl'"):
        run_allennlp("evaluate", str(trained_archive), str(named_json))
    overrides = message.split("--overrides '", 1)[1].rstrip("'")
    metrics = tmp_path / "metrics.json"
    run_allennlp(
        "evaluate",
        str(trained_archive),
        str(records),
        "--overrides",
        overrides,
        "--output-file",
        str(metrics),
    )
    assert "rougeL" in json.loads(metrics.read_text())
