"""
`scripts/demo.py` (the main job, `make demo`) runs for minutes, so the suite does not run it whole.
Its parts run here: the condensed training progress on allennlp's log lines, a timed prediction
through `allennlp predict`'s functions in this process, the summary on an output folder laid out as
the demo writes it; and the demo's configs are checked to produce the metrics the summary reads.
"""

import importlib
import json
import logging
import os
from pathlib import Path

import pytest
from allennlp.common import Params

from tests import PROJECT_ROOT, SNI_FIXTURES

MODELS = {"hint": (100.0, 29.0), "tk_instruct": (98.3, 100.0), "no_instruct": (8.3, 28.0)}


@pytest.fixture
def scripts(monkeypatch):
    """scripts/demo.py and scripts/demo_summary.py, imported as `python scripts/demo.py` does."""
    # demo.py sets these where unset; here only while the test runs.
    for name, value in {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
        monkeypatch.setenv(name, os.environ.get(name, value))
    monkeypatch.syspath_prepend(str(PROJECT_ROOT / "scripts"))
    return importlib.import_module("demo"), importlib.import_module("demo_summary")


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def fake_demo_output(output: Path) -> None:
    """
    What `scripts/demo.py` leaves before its summary: 2 unseen tasks, seen EM and FLOPs per model.
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
            # 3 s from the loaded model to the written predictions at 0 positive examples, 5 at 2.
            (output / f"predict_{model}_{shots}pos.seconds").write_text(f"{3 + shots}\n")
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


def test_summary_computes_the_table_from_the_demo_output(tmp_path, scripts, capsys):
    _, demo_summary = scripts
    output = tmp_path / "demo"
    fake_demo_output(output)
    demo_summary.main(output, 230, 441.5)
    printed = capsys.readouterr().out
    results = json.loads((output / "results.json").read_text())
    rows = results["models"]
    assert rows["hint"]["flops_vs_tk_instruct"] == 0.29
    assert rows["no_instruct"]["flops_vs_tk_instruct"] == 0.28
    assert rows["hint"]["seen_exact_match"] == 100.0
    # The timed seconds over 2 tasks: 3 s at 0 positive examples, 5 s at 2.
    assert rows["hint"]["predict_seconds_per_task_0pos"] == 1.5
    assert rows["tk_instruct"]["predict_seconds_per_task_2pos"] == 2.5
    assert rows["no_instruct"]["predict_seconds_per_task_2pos"] == 1.5
    assert (results["wall_seconds"], results["cpu_seconds"]) == (230, 441.5)
    assert (
        "| HINT | 100.0 | 100.0 | 1.0 | 40.0 | 0.29 | 1.50 | 2.50 |"
        in (output / "table.md").read_text()
    )
    assert "600 steps of 64 examples (Adafactor, lr 0.02, dropout 0.0)" in printed
    assert "Wall time: 3 min 50 s" in printed
    assert "task_b" in printed  # the first prediction of each task
    assert (output / "quality_vs_cost.png").stat().st_size > 0


def test_training_progress_condenses_allennlp_s_log(scripts):
    demo, _ = scripts
    shown = []
    progress = demo.TrainingProgress("HINT", shown.append)
    trainer = "2026-12-04 17:01:30,000 - INFO - allennlp.training.gradient_descent_trainer - "
    lines = [trainer + "Epoch 0/0"]
    lines += [
        f"batch_loss: 0.5, loss: {2 - batch / 600:.4f} ||:  1%|   | {batch}/600 [00:02<08:09]"
        for batch in range(1, 601)
    ]
    lines += [
        trainer + "Validating",
        "rougeL: 100.0, exact_match: 100.0, batch_loss: 0.0, loss: 0.0 ||: 100%|#| 12/12 [00:01]",
        trainer + "Epoch duration: 0:04:30.266788",
        "2026-12-04 17:06:01,465 - INFO - allennlp.commands.train - The model will be evaluated "
        "using the best epoch weights.",
        "rougeL: 34.42, exact_match: 0.00, flops: 2902282512.00, loss: 9.12 ||: : 4it [00:00]",
    ]
    for line in lines:
        progress.read(line)
    batches = [
        f"    batch {batch}/600  loss {2 - batch / 600:.4f}" for batch in range(120, 601, 120)
    ]
    assert shown == [
        f"  {'HINT':<12}{line}"
        for line in [
            "  epoch 1 of 1",
            *batches,
            "  scoring the seen tasks (validation)",
            "    took 0:04:30",
            "  scoring the unseen tasks (test)",
            "    RougeL 34.42  exact match 0.00 (running average)",
        ]
    ]


@pytest.mark.slow
def test_a_timed_prediction_runs_here_and_logs_to_its_file(
    tmp_path, monkeypatch, scripts, trained_archive, capsys
):
    """`allennlp predict`'s functions in this process, the output as the command writes it."""
    demo, _ = scripts
    monkeypatch.setattr(demo, "OUTPUT", tmp_path)
    monkeypatch.setattr(
        demo, "UNSEEN_TASKS", SNI_FIXTURES / "tasks" / "task1146_country_capital.json"
    )
    (tmp_path / "hint").mkdir()
    (tmp_path / "hint" / "model.tar.gz").symlink_to(trained_archive)
    handlers = logging.getLogger().handlers[:]

    seconds = demo.predict("hint", 2)

    predictions = (tmp_path / "predict_hint_2pos.jsonl").read_text().splitlines()
    assert len(predictions) == 20  # the task file's instances
    assert {"id", "prediction", "references"} <= set(json.loads(predictions[0]))
    assert float((tmp_path / "predict_hint_2pos.seconds").read_text()) == seconds > 0
    assert "allennlp.models.archival" in (tmp_path / "predict_hint_2pos.log").read_text()
    # Nothing on the terminal, and the next stage starts with the handlers as before.
    assert capsys.readouterr() == ("", "")
    assert logging.getLogger().handlers == handlers


def test_demo_configs_score_seen_tasks_as_validation_and_unseen_as_test():
    """
    The summary reads `validation_*` (seen tasks) and `test_*` (unseen tasks) from metrics.json.
    """
    for model in MODELS:
        config = Params.from_file(
            str(PROJECT_ROOT / "training_configs" / "demo" / f"{model}.jsonnet")
        )
        # What demo.py writes, below the repository from wherever the config is read.
        suite = PROJECT_ROOT / "output" / "demo" / "suite"
        assert Path(config["validation_data_path"]) == suite / "held_out_inputs"
        assert Path(config["test_data_path"]) == suite / "splits" / "test_tasks.txt"
        assert config["model"]["dropout"] == 0.0
        assert config["evaluate_on_test"] is True
        assert config["trainer"]["num_epochs"] == 1  # no model selection on validation
