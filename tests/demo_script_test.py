"""
`scripts/demo.sh` (the main job, `make demo`) runs for minutes, so the suite does not run it. Its
summary, `scripts/demo_summary.py`, runs here on an output folder laid out as the demo writes it,
and the demo's configs are checked to produce the metrics the summary reads.
"""

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from allennlp.common import Params

from tests import PROJECT_ROOT

SUMMARY = PROJECT_ROOT / "scripts" / "demo_summary.py"
# The predict logs' loading time, 2026-11-26 12:00:00, in UTC (the summary runs with TZ=UTC).
LOADED_AT = datetime(2026, 11, 26, 12, tzinfo=timezone.utc).timestamp()
MODELS = {"hint": (100.0, 29.0), "tk_instruct": (98.3, 100.0), "no_instruct": (8.3, 28.0)}


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def fake_demo_output(output: Path) -> None:
    """
    What `scripts/demo.sh` leaves before its summary: 2 unseen tasks, seen EM and FLOPs per model.
    """
    (output / "suite" / "splits").mkdir(parents=True)
    (output / "suite" / "splits" / "test_tasks.txt").write_text("task_a\ntask_b\n")
    for model, (seen_exact_match, flops) in MODELS.items():
        metrics = {
            "validation_exact_match": seen_exact_match,
            "validation_rougeL": seen_exact_match,
            "test_exact_match": 1.0,
            "test_rougeL": 40.0,
            "test_flops": flops,
            "training_loss": 0.5,
        }
        write_json(output / model / "metrics.json", metrics)
        for shots in (0, 2):
            if model == "no_instruct" and shots == 2:
                continue  # the demo does not run it
            name = f"predict_{model}_{shots}pos"
            # Loaded at 12:00:00.000, ended 3 s later: 1.5 s per task.
            (output / f"{name}.log").write_text(
                "2026-11-26 12:00:00,000 - INFO - allennlp.models.archival - unarchived model dir\n"
            )
            (output / f"{name}.end").write_text(str(LOADED_AT + 3 + shots))
    trainer = {"num_epochs": 1, "num_gradient_accumulation_steps": 1, "optimizer": {"lr": 0.02}}
    config = {
        "trainer": trainer,
        "data_loader": {"batches_per_epoch": 600, "batch_size": 64},
        "model": {"dropout": 0.0},
    }
    write_json(output / "hint" / "config.json", config)
    write_json(
        output / "fixture_sni" / "metrics.json", {"test_rougeL": 0.1, "test_exact_match": 0.0}
    )
    fixture_loader = {"batches_per_epoch": 20, "batch_size": 8}
    write_json(
        output / "fixture_sni" / "config.json", {"trainer": trainer, "data_loader": fixture_loader}
    )
    predictions = [
        {"id": f"{task}-{i}-0", "input": "bus pink", "prediction": "pink", "references": ["pink"]}
        for task in ("task_a", "task_b")
        for i in range(3)
    ]
    (output / "predict_hint_2pos.jsonl").write_text(
        "".join(json.dumps(p) + "\n" for p in predictions)
    )


def test_summary_computes_the_table_from_the_demo_output(tmp_path):
    output = tmp_path / "demo"
    fake_demo_output(output)
    run = subprocess.run(
        [sys.executable, str(SUMMARY), str(output), "230", "441.5"],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )
    assert run.returncode == 0, run.stderr
    results = json.loads((output / "results.json").read_text())
    rows = results["models"]
    assert rows["hint"]["flops_vs_tk_instruct"] == 0.29
    assert rows["no_instruct"]["flops_vs_tk_instruct"] == 0.28
    assert rows["hint"]["seen_exact_match"] == 100.0
    # (end - loaded) / 2 tasks: 3 s at 0 positive examples, 5 s at 2.
    assert rows["hint"]["predict_seconds_per_task_0pos"] == 1.5
    assert rows["tk_instruct"]["predict_seconds_per_task_2pos"] == 2.5
    assert rows["no_instruct"]["predict_seconds_per_task_2pos"] == 1.5
    assert (results["wall_seconds"], results["cpu_seconds"]) == (230, 441.5)
    assert (
        "| HINT | 100.0 | 100.0 | 1.0 | 40.0 | 0.29 | 1.50 | 2.50 |"
        in (output / "table.md").read_text()
    )
    assert "600 steps of 64 examples (Adafactor, lr 0.02, dropout 0.0)" in run.stdout
    assert "Wall time: 3 min 50 s" in run.stdout
    assert "task_b" in run.stdout  # the first prediction of each task
    assert (output / "quality_vs_cost.png").stat().st_size > 0


def test_demo_configs_score_seen_tasks_as_validation_and_unseen_as_test():
    """
    The summary reads `validation_*` (seen tasks) and `test_*` (unseen tasks) from metrics.json.
    """
    for model in MODELS:
        config = Params.from_file(
            str(PROJECT_ROOT / "training_configs" / "demo" / f"{model}.jsonnet")
        )
        # What demo.sh writes, below the repository from wherever the config is read.
        suite = PROJECT_ROOT / "output" / "demo" / "suite"
        assert Path(config["validation_data_path"]) == suite / "held_out_inputs"
        assert Path(config["test_data_path"]) == suite / "splits" / "test_tasks.txt"
        assert config["model"]["dropout"] == 0.0
        assert config["evaluate_on_test"] is True
        assert config["trainer"]["num_epochs"] == 1  # no model selection on validation
