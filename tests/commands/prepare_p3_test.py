"""
`allennlp hint-p3-prepare` on the fixture rows: the evaluation and training mixtures written, what
was not written reported by task with file and line, and the mixtures listed without data.
"""

import json
import sys

import pytest
from allennlp.commands import main
from allennlp.common.checks import ConfigurationError

import hint_allennlp.commands.prepare_p3  # noqa: F401  (registers hint-p3-prepare)
from tests import FIXTURES_ROOT, PROJECT_ROOT

DATASETS = FIXTURES_ROOT / "p3" / "datasets"


def run(monkeypatch, *arguments):
    monkeypatch.setattr(sys, "argv", ["allennlp", "hint-p3-prepare", *map(str, arguments)])
    main(prog="allennlp")


def test_the_evaluation_mixture(tmp_path, monkeypatch, capsys):
    output = tmp_path / "test.jsonl"
    run(
        monkeypatch,
        "--mixture",
        "t0_eval",
        "--data-dir",
        DATASETS,
        "--output",
        output,
        "--datasets",
        "super_glue/copa",
        "--shots",
        "1",
    )
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 30 and all(len(record["shots"]) == 1 for record in records)
    printed = capsys.readouterr().out
    assert "30 records of 12 tasks (1 datasets) written" in printed
    assert (
        "super_glue_copa__What_could_happen_next_C1_or_C2_: 2 rows that render to other than "
        "'prompt ||| target' (dropped by the authors): "
        f"{DATASETS}/super_glue/copa/validation.jsonl, line 2 (1 part(s))"
    ) in printed


def test_the_training_mixture(tmp_path, monkeypatch, capsys):
    output = tmp_path / "train.jsonl"
    run(
        monkeypatch,
        "--mixture",
        "t0_train",
        "--data-dir",
        DATASETS,
        "--output",
        output,
        "--datasets",
        "multi_news",
        "amazon_polarity",
        "--num-examples",
        "40",
    )
    assert len(output.read_text().splitlines()) == 40
    assert "40 records of 15 tasks (2 datasets) written" in capsys.readouterr().out
    with pytest.raises(ConfigurationError, match="needs --num-examples"):
        run(monkeypatch, "--mixture", "t0_train", "--data-dir", DATASETS, "--output", output)


def test_listing_a_mixture(monkeypatch, capsys):
    run(monkeypatch, "--mixture", "t0_train", "--list-tasks")
    lines = capsys.readouterr().out.splitlines()
    assert "amazon_polarity_Is_this_review\tamazon_polarity/train\t55555" in lines
    assert lines[-1] == "313 tasks of 38 datasets; Σ cap = 17,277,798"
    # docs/p3.md quotes the line.
    assert f"    {lines[-1]}\n" in (PROJECT_ROOT / "docs" / "p3.md").read_text()
    run(monkeypatch, "--mixture", "t0_eval", "--list-tasks", "--datasets", "anli")
    lines = capsys.readouterr().out.splitlines()
    assert "anli_GPT_3_style_r3\tanli/dev_r3\t0" in lines
    assert lines[-1] == "45 tasks of 1 datasets"
