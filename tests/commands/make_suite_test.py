"""
`allennlp hint-make-suite` writes the suite of `hint_allennlp.data.instruction_suite` with the sizes
asked for.
"""

import json
import sys

from allennlp.commands import main

import hint_allennlp.commands.make_suite  # noqa: F401  (registers hint-make-suite)


def test_make_suite_writes_tasks_splits_and_held_out_inputs(tmp_path, monkeypatch, capsys):
    arguments = [
        "allennlp",
        "hint-make-suite",
        str(tmp_path),
        "--instances-per-task",
        "7",
        "--held-out-inputs",
        "5",
    ]
    monkeypatch.setattr(sys, "argv", arguments)
    main(prog="allennlp")
    training = (tmp_path / "splits" / "train_tasks.txt").read_text().split()
    unseen = (tmp_path / "splits" / "test_tasks.txt").read_text().split()
    assert (len(training), len(unseen)) == (12, 4)
    for name in training:
        assert len(json.loads((tmp_path / "tasks" / f"{name}.json").read_text())["Instances"]) == 7
        assert (
            len(
                json.loads((tmp_path / "held_out_inputs" / f"{name}.json").read_text())["Instances"]
            )
            == 5
        )
    for name in unseen:
        assert len(json.loads((tmp_path / "tasks" / f"{name}.json").read_text())["Instances"]) == 5
    assert "12 training tasks" in capsys.readouterr().out
