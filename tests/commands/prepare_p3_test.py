"""
`allennlp hint-p3-prepare` on the fixture rows: the evaluation and training mixtures written, what
was not written reported by task with file and line, and the mixtures listed without data.
"""

import json
import logging
import sys

import pytest
from allennlp.commands import main
from allennlp.common.checks import ConfigurationError

import hint_allennlp.commands.prepare_p3  # noqa: F401  (registers hint-p3-prepare)
from hint_allennlp.data.p3.promptsource_distribution import cached_sdist
from tests import FIXTURES_ROOT, PROJECT_ROOT
from tests.data.p3.edited_prompts_test import EDITED_PROMPTS
from tests.data.p3.t0_mixture_test import DATASETS_CSV

DATASETS = FIXTURES_ROOT / "p3" / "datasets"
TEMPLATE_PROMPTS_WARNING = "No --edited-prompts: the hypernetwork's text of every record"


def run(monkeypatch, *arguments):
    monkeypatch.setattr(sys, "argv", ["allennlp", "hint-p3-prepare", *map(str, arguments)])
    main(prog="allennlp")


def test_the_evaluation_mixture(tmp_path, monkeypatch, capsys, caplog):
    output = tmp_path / "test.jsonl"
    with caplog.at_level(logging.WARNING):
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
    assert "30 records of 12 tasks (1 dataset) written" in printed
    # Without the authors' prompts: warned once, counted in the report.
    assert caplog.text.count(TEMPLATE_PROMPTS_WARNING) == 1
    assert "30 records of 12 task(s) have as hypernetwork text their template" in printed
    assert (
        "super_glue_copa__What_could_happen_next_C1_or_C2_: 2 rows rendered to other than "
        "'prompt ||| target' (dropped by the authors): "
        f"{DATASETS}/super_glue/copa/validation.jsonl, line 2 (1 part(s))"
    ) in printed


def test_the_training_mixture(tmp_path, monkeypatch, capsys, caplog):
    output = tmp_path / "train.jsonl"
    with caplog.at_level(logging.WARNING):
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
            "--edited-prompts",
            EDITED_PROMPTS,
            "--datasets-csv",
            DATASETS_CSV,
        )
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 40
    summarize = next(record for record in records if record["task"] == "multi_news_summarize")
    assert summarize["edited_prompt"] == "Summarise these articles.\n\nDocument: [MASK]"
    printed = capsys.readouterr().out
    assert "40 records of 15 tasks (2 datasets) written" in printed
    assert "hypernetwork text their template" not in printed
    assert TEMPLATE_PROMPTS_WARNING not in caplog.text
    assert f"{DATASETS_CSV} differs from this project's table" in caplog.text
    with pytest.raises(ConfigurationError, match="needs --num-examples"):
        run(monkeypatch, "--mixture", "t0_train", "--data-dir", DATASETS, "--output", output)


def test_listing_a_mixture(monkeypatch, capsys):
    run(monkeypatch, "--mixture", "t0_train", "--list-tasks")
    lines = capsys.readouterr().out.splitlines()
    assert "amazon_polarity_Is_this_review\tamazon_polarity/train\t55555" in lines
    assert lines[-1] == "313 tasks of 38 datasets; Σ cap = 17,277,798"
    # docs/p3.md quotes the line.
    assert f"    {lines[-1]}\n" in (PROJECT_ROOT / "docs" / "p3.md").read_text()
    # The default templates are those of the cached archive; --templates names one.
    for templates in [[], ["--templates", cached_sdist()]]:
        run(monkeypatch, "--mixture", "t0_eval", "--list-tasks", "--datasets", "anli", *templates)
        lines = capsys.readouterr().out.splitlines()
        assert "anli_GPT_3_style_r3\tanli/dev_r3\t0" in lines
        assert lines[-1] == "45 tasks of 1 dataset"


def test_a_missing_file_option_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "all_edited_prompts.txt"
    with pytest.raises(ConfigurationError, match=f"--edited-prompts {missing} does not exist"):
        run(monkeypatch, "--mixture", "t0_eval", "--list-tasks", "--edited-prompts", missing)
