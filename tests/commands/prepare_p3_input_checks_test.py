"""
`allennlp hint-p3-prepare` on bad input, as a user runs it from a folder of their own (the real
argument parser and command, in this process): nothing is skipped or changed without a count and a
reason, and what cannot work is an error before anything is rendered.
"""

import json
import shutil
from pathlib import Path

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.dataset_readers.p3 import P3_MODES, P3Reader
from hint_allennlp.data.p3 import preparation
from tests import FIXTURES_ROOT, TINY_T5, run_allennlp

DATASETS = FIXTURES_ROOT / "p3" / "datasets"
RTE_ROW = {"premise": "The shop opened at nine.", "hypothesis": "The shop opened.", "idx": 0}


def prepare(*arguments) -> None:
    run_allennlp("hint-p3-prepare", *map(str, arguments))


def write_rows(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(row if isinstance(row, str) else json.dumps(row) + "\n" for row in rows)
    )
    return path


def records(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_trec_from_todays_datasets_is_named_and_mapped(user_folder, capsys):
    # trec as `datasets` 2.5 and later export it: other column names, other label numbers.
    old_layout = [json.loads(line) for line in (DATASETS / "trec" / "train.jsonl").open()]
    new_numbers = {(5, 21): (4, 32), (4, 13): (5, 38)}  # LOC:city, NUM:count
    new_layout = []
    for row in old_layout:
        coarse, fine = new_numbers[row["label-coarse"], row["label-fine"]]
        new_layout.append({"text": row["text"], "coarse_label": coarse, "fine_label": fine})
    write_rows(Path("data/trec/train.jsonl"), new_layout)
    arguments = ["--mixture", "t0_train", "--data-dir", "data", "--datasets", "trec"]
    with pytest.raises(ConfigurationError) as error:
        prepare(*arguments, "--output", "new.jsonl", "--num-examples", 36)
    message = str(error.value)
    assert "data/trec/train.jsonl: 2 of its first 2 rows have no column 'label_coarse'" in message
    assert "its columns are ['coarse_label', 'fine_label', 'text']" in message
    assert "pass --map-columns trec" in message and "`datasets` 2.4 or older" in message
    prepare(*arguments, "--output", "new.jsonl", "--num-examples", 36, "--map-columns", "trec")
    old_data = Path("old")
    shutil.copytree(DATASETS / "trec", old_data / "trec")
    prepare(*arguments[:3], old_data, *arguments[4:], "--output", "old.jsonl", "--num-examples", 36)
    capsys.readouterr()
    assert records(Path("new.jsonl")) == records(Path("old.jsonl"))
    assert any(r["task"].startswith("trec_fine_grained") for r in records(Path("new.jsonl")))


def test_rows_lacking_fields_or_labels_are_counted_and_mostly_lacking_refused(user_folder, capsys):
    rows = [
        dict(RTE_ROW, label=0),
        dict(RTE_ROW, hypothesis=None, label=0),  # promptsource: "Question: None True or False?"
        {key: value for key, value in RTE_ROW.items() if key != "premise"} | {"label": 1},
        dict(RTE_ROW, label="entailment"),  # a string label: no target
        dict(RTE_ROW, label=7),  # out of range
        dict(RTE_ROW, premise="", hypothesis="", label=1),  # nothing to fill the prompt with
    ]
    write_rows(Path("data/super_glue/rte/train.jsonl"), rows[1:] + [rows[0]] * 3)
    write_rows(Path("data/super_glue/rte/validation.jsonl"), rows)
    arguments = ["--data-dir", "data", "--datasets", "super_glue/rte"]
    prepare("--mixture", "t0_eval", *arguments, "--output", "test.jsonl")
    printed = capsys.readouterr().out
    task = "super_glue_rte_GPT_3_style"
    validation = Path("data/super_glue/rte/validation.jsonl")
    assert (
        f"{task}: 2 rows lacked a field that the template reads, or had it null: "
        f"{validation}, line 2 (hypothesis); {validation}, line 3 (premise)"
    ) in printed
    assert (
        f"{task}: 2 rows had a label that is not a number of one of the answer choices: "
        f"{validation}, line 4 (label 'entailment'; 2 answer choices); "
        f"{validation}, line 5 (label 7; 2 answer choices)"
    ) in printed
    assert f"{task}: 1 row printed only empty values into the prompt" in printed
    written = records(Path("test.jsonl"))
    assert {r["id"].rsplit("/", 1)[1] for r in written} == {"0"}
    # Training: such labels are reported, not written with the target <NO LABEL>.
    polarity = [json.loads(line) for line in (DATASETS / "amazon_polarity" / "train.jsonl").open()]
    write_rows(
        Path("data/amazon_polarity/train.jsonl"),
        polarity + [dict(polarity[0], label="positive"), dict(polarity[0], label=2)],
    )
    prepare(
        "--mixture", "t0_train", "--data-dir", "data", "--datasets", "amazon_polarity",
        "--output", "train.jsonl", "--num-examples", 90,
    )  # fmt: skip
    assert (
        "amazon_polarity_Is_this_review: 2 rows had a label that is not a number of one of the "
        "answer choices: "
    ) in capsys.readouterr().out
    assert all(r["target"] != preparation.NO_LABEL for r in records(Path("train.jsonl")))
    # What prepare writes, every reader mode reads.
    for mode in P3_MODES:
        for path in ["test.jsonl", "train.jsonl"]:
            assert list(P3Reader(model_name=str(TINY_T5), mode=mode).read(path))
    # Most rows without a field the templates read: refused before rendering.
    write_rows(validation, [rows[1]] * 3 + [rows[0]])
    with pytest.raises(
        ConfigurationError, match="3 of its first 4 rows have no column 'hypothesis'"
    ):
        prepare("--mixture", "t0_eval", *arguments, "--output", "other.jsonl")
    assert not Path("other.jsonl").exists()


def test_empty_splits_and_datasets_are_named(user_folder, capsys):
    shutil.copytree(DATASETS / "anli", "data/anli")
    write_rows(Path("data/super_glue/rte/validation.jsonl"), ["\n", "  \n"])
    arguments = ["--mixture", "t0_eval", "--data-dir", "data", "--output", "test.jsonl"]
    arguments += ["--datasets", "super_glue/rte", "anli"]
    with pytest.raises(ConfigurationError) as error:
        prepare(*arguments)
    assert str(error.value).startswith(
        "data/super_glue/rte/validation.jsonl has no rows (it is empty or blank): export the split "
        "again, leave super_glue/rte out with --datasets, or pass --allow-missing"
    )
    prepare(*arguments, "--allow-missing")
    printed = capsys.readouterr().out
    assert "No record was written of 1 dataset: super_glue/rte" in printed
    assert "No record was written of 10 tasks: super_glue_rte_GPT_3_style, " in printed
    assert (
        "super_glue_rte_GPT_3_style: 1 split was empty (task skipped, --allow-missing)" in printed
    )
    # A dataset none of whose rows renders: the evaluation file would lack it.
    write_rows(Path("data/super_glue/rte/validation.jsonl"), [dict(RTE_ROW, label=7)])
    Path("test.jsonl").write_text("an earlier output\n")
    with pytest.raises(ConfigurationError) as error:
        prepare(*arguments)
    assert str(error.value).startswith(
        "No record of super_glue/rte was written, so test.jsonl would lack the whole dataset"
    )
    assert Path("test.jsonl").read_text() == "an earlier output\n"


def test_an_interrupted_run_leaves_the_earlier_output_and_stale_files_are_removed(
    user_folder, monkeypatch, capsys
):
    shutil.copytree(DATASETS / "amazon_polarity", "data/amazon_polarity")
    arguments = ["--mixture", "t0_train", "--data-dir", "data", "--datasets", "amazon_polarity"]
    arguments += ["--output", "out/train.jsonl", "--num-examples", 20]
    # A run killed earlier left its shuffle buckets beside the output.
    write_rows(Path("out/.train.jsonl.shuffle-k1ll3d/0.jsonl"), ["{}\n"] * 10)
    prepare(*arguments)
    assert (
        f"Removed {Path('out/.train.jsonl.shuffle-k1ll3d')} (0.0 MB), left by an earlier run"
        in (capsys.readouterr().out)
    )
    assert sorted(path.name for path in Path("out").iterdir()) == ["train.jsonl"]
    good = Path("out/train.jsonl").read_text()
    calls = []

    def interrupted(self, index, report):
        calls.append(index)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original(self, index, report)

    original = preparation.TaskRows.prepare_or_report
    monkeypatch.setattr(preparation.TaskRows, "prepare_or_report", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(*arguments)
    assert Path("out/train.jsonl").read_text() == good
    assert sorted(path.name for path in Path("out").iterdir()) == ["train.jsonl"]
    shutil.copytree(DATASETS / "super_glue" / "copa", "data/super_glue/copa")
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        prepare(
            "--mixture", "t0_eval", "--data-dir", "data", "--datasets", "super_glue/copa",
            "--output", "out/test.jsonl",
        )  # fmt: skip
    assert sorted(path.name for path in Path("out").iterdir()) == ["train.jsonl"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--num-examples", "-5"], "--num-examples must be 1 or more, not -5."),
        (
            ["--mixture", "t0_eval", "--datasets", "super_glue/rte", "--num-examples", "5"],
            "--num-examples is for t0_train",
        ),
        (["--output", "data"], "--output data is a folder; give the JSON-lines file to write."),
        (["--output", "notes.txt/train.jsonl"], "notes.txt is a file, not a folder."),
        (["--output", "data/amazon_polarity/train.jsonl"], "is also an input"),
    ],
)
def test_options_that_cannot_work_are_refused_at_once(user_folder, options, message):
    shutil.copytree(DATASETS / "amazon_polarity", "data/amazon_polarity")
    export = Path("data/amazon_polarity/train.jsonl").read_text()
    Path("notes.txt").write_text("notes\n")
    arguments = ["--mixture", "t0_train", "--data-dir", "data", "--datasets", "amazon_polarity"]
    arguments += ["--output", "train.jsonl", "--num-examples", "20"]
    with pytest.raises(ConfigurationError, match=message.replace(".", r"\.")):
        prepare(*arguments, *options)  # a later option wins
    assert Path("data/amazon_polarity/train.jsonl").read_text() == export


def test_unreadable_exports(user_folder, capsys):
    rows = [json.loads(line) for line in (DATASETS / "amazon_polarity" / "train.jsonl").open()]
    deep = '{"title": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    write_rows(Path("data/amazon_polarity/train.jsonl"), [deep] + rows)
    arguments = ["--mixture", "t0_train", "--data-dir", "data", "--datasets", "amazon_polarity"]
    arguments += ["--output", "train.jsonl", "--num-examples", "9"]
    prepare(*arguments)
    printed = capsys.readouterr().out
    assert "9 records of 9 tasks (1 dataset) written" in printed
    # (reported by the tasks that drew it)
    assert (
        ": 1 row could not be read: "
        "data/amazon_polarity/train.jsonl, line 1 (nested too deeply to read as JSON.)"
    ) in printed
    write_rows(Path("data/amazon_polarity/train.jsonl"), ["{not json\n", "[1]\n"])
    with pytest.raises(ConfigurationError, match="its first 2 rows are all malformed, the first: "):
        prepare(*arguments)
    Path("data/amazon_polarity/train.jsonl").unlink()
    Path("data/amazon_polarity/train.parquet").write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(ConfigurationError, match="train.parquet: not a readable parquet file"):
        prepare(*arguments)
    # A task none of whose rows renders: its share is reported as a sentence.
    Path("data/amazon_polarity/train.parquet").unlink()
    write_rows(Path("data/amazon_polarity/train.jsonl"), [dict(rows[0], label=5)])
    prepare(*arguments)
    assert (
        "amazon_polarity_Is_this_review: 1 example of its share could not be written, as none of "
        "its rows renders: data/amazon_polarity/train.jsonl"
    ) in capsys.readouterr().out
