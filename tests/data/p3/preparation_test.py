"""
Preparing the `p3` reader's records from dataset rows, with the authors' rules
(allenai/hyper-task-descriptions, `seqio_tasks/utils.py` `apply_template` /
`apply_template_split`): what is dropped is counted by task and reason, with file and line.
"""

import codecs
import json
import shutil
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.dataset_readers.p3 import fill_template
from hint_allennlp.data.p3.edited_prompts import template_prompt
from hint_allennlp.data.p3.preparation import NO_LABEL, MixturePreparation, allocate
from hint_allennlp.data.p3.t0_mixture import mixture_tasks
from tests import FIXTURES_ROOT
from tests.data.p3.edited_prompts_test import EDITED_PROMPTS
from tests.data.p3.promptsource_reference import promptsource_render
from tests.data.p3.promptsource_templates_test import fixture_row
from tests.data.p3.t0_mixture_test import FIXTURE_EVALUATION, FIXTURE_TRAINING

DATASETS = FIXTURES_ROOT / "p3" / "datasets"


def prepare(
    mixture, datasets, output: Path, data_dir: Path = DATASETS, edited_prompts=None, **kwargs
):
    tasks = mixture_tasks(mixture, datasets, edited_prompts=edited_prompts)
    shots = kwargs.pop("shots", 0)
    preparation = MixturePreparation(tasks, data_dir, shots=shots, seed=0)
    try:
        if mixture == "t0_train":
            report = preparation.write_training(output, **kwargs)
        else:
            report = preparation.write_evaluation(output)
    finally:
        preparation.close()
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return records, report


@lru_cache(maxsize=None)
def fixture_tasks() -> dict:
    tasks = mixture_tasks("t0_train", FIXTURE_TRAINING) + mixture_tasks(
        "t0_eval", FIXTURE_EVALUATION
    )
    return {task.name: task for task in tasks}


def promptsource_render_of(example_id: str) -> tuple:
    """promptsource's own `(parts, answer_choices)` of a record's row, with its seed."""
    name, split, row = example_id.split("/")[:3]
    task = fixture_tasks()[name]
    example = fixture_row(task.dataset.folder, split, int(row))
    parts, choices, error = promptsource_render(
        task.dataset.folder, task.template.name, example, f"0/{name}/{split}/{row}"
    )
    assert error is None, error
    return parts, choices


def promptsource_parts(example_id: str) -> list:
    return promptsource_render_of(example_id)[0]


def test_allocate_splits_in_proportion_to_the_caps():
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert allocate(7, [55_555, 44_972]) == [4, 3]
    shares = allocate(20_480_000, [task.cap for task in mixture_tasks("t0_train")])
    assert sum(shares) == 20_480_000 and min(shares) > 0


def test_evaluation_records_render_as_promptsource(tmp_path):
    records, report = prepare("t0_eval", FIXTURE_EVALUATION, tmp_path / "test.jsonl")
    assert report.written == len(records) == 148
    for record in records:
        prompt, target = promptsource_parts(record["id"])
        assert fill_template(record["template"], record["fields"]) == prompt
        assert record["target"] == target
        assert record["answer_choices"] == promptsource_render_of(record["id"])[1]
        assert record["target"] in record["answer_choices"]
        # No edited prompts given: the hypernetwork's text is the template's, counted.
        assert record["edited_prompt"] == template_prompt(record["template"])
    assert sum(report.template_prompts.values()) == 148
    assert report.template_prompts["anli_GPT_3_style_r2"] == 2
    assert report.template_prompts_line().startswith(
        "148 records of 71 task(s) have as hypernetwork text their template with every field as "
        "[MASK] (no edited prompt): anli_GPT_3_style_r1, "
    )
    anli = [r for r in records if r["task"] == "anli_GPT_3_style_r2"]
    assert [r["id"] for r in anli] == [
        "anli_GPT_3_style_r2/dev_r2/0",
        "anli_GPT_3_style_r2/dev_r2/1",
    ]
    assert anli[0]["categories"] == ["anli", "anli_r2"]
    assert Counter(r["categories"][0] for r in records) == {
        "super_glue_rte": 20,
        "super_glue_copa": 30,  # 12 templates x 3 rows, less the 6 renders COPA's conditions drop
        "hellaswag": 8,
        "anli": 90,
    }


def test_records_carry_the_edited_prompt_of_their_task(tmp_path):
    records, report = prepare(
        "t0_eval", ["super_glue/rte"], tmp_path / "test.jsonl", edited_prompts=EDITED_PROMPTS
    )
    prompts = {
        t.name: t.edited_prompt
        for t in mixture_tasks("t0_eval", ["super_glue/rte"], edited_prompts=EDITED_PROMPTS)
    }
    assert len(records) == 20
    assert all(record["edited_prompt"] == prompts[record["task"]] for record in records)
    assert not report.template_prompts and report.template_prompts_line() is None
    # A branching template's text follows the row's branch (COPA asks for a cause or an effect).
    records, _ = prepare("t0_eval", ["super_glue/copa"], tmp_path / "copa.jsonl")
    best = {r["edited_prompt"] for r in records if r["task"] == "super_glue_copa_best_option"}
    assert len(best) == 2 and all(prompt.count("[MASK]") == 3 for prompt in best)


def test_what_the_authors_drop_is_counted_with_its_place(tmp_path):
    _, report = prepare("t0_eval", ["super_glue/copa"], tmp_path / "test.jsonl")
    reason = "rendered to other than 'prompt ||| target' (dropped by the authors)"
    validation = DATASETS / "super_glue" / "copa" / "validation.jsonl"
    # The template asks "what happened next" only of `effect` rows; rows 2 and 3 are `cause`.
    task = "super_glue_copa__What_could_happen_next_C1_or_C2_"
    assert report.count(task, reason) == 2
    assert report.places(task, reason) == [
        f"{validation}, line 2 (1 part(s))",
        f"{validation}, line 3 (1 part(s))",
    ]
    assert sum(report.counts.values()) == 6
    # 3 examples of each of the 6 templates: more than the 2 rows that render, so every row is seen.
    _, report = prepare("t0_train", ["multi_news"], tmp_path / "train.jsonl", num_examples=18)
    empty = "had an empty document (dropped by the authors)"
    assert report.count("multi_news_summarize", empty) == 1
    assert report.places("multi_news_summarize", empty) == [
        f"{DATASETS / 'multi_news' / 'train.jsonl'}, line 3"
    ]


def test_training_records_are_the_shares_in_random_order(tmp_path):
    records, _ = prepare("t0_train", FIXTURE_TRAINING, tmp_path / "train.jsonl", num_examples=100)
    tasks = mixture_tasks("t0_train", FIXTURE_TRAINING)
    shares = dict(zip([t.name for t in tasks], allocate(100, [t.cap for t in tasks])))
    assert Counter(record["task"] for record in records) == shares
    # Shuffled: the tasks are interleaved, not in blocks.
    assert len({records[i]["task"] for i in range(10)}) > 2
    # amazon_polarity's 4 rows are all used once per template, then drawn again as "/pass1".
    amazon = sorted(r["id"] for r in records if r["task"] == "amazon_polarity_Is_this_review")
    assert shares["amazon_polarity_Is_this_review"] == 7  # 100 x 55,555 / 769,827 = 7.2
    first_pass = [name for name in amazon if not name.endswith("/pass1")]
    assert first_pass == [f"amazon_polarity_Is_this_review/train/{i}" for i in range(4)]
    assert len(amazon) - len(first_pass) == 3
    for record in records:
        prompt, target = promptsource_parts(record["id"])
        assert fill_template(record["template"], record["fields"]) == prompt
        assert record["target"] == (target or NO_LABEL)
    again, _ = prepare("t0_train", FIXTURE_TRAINING, tmp_path / "again.jsonl", num_examples=100)
    assert again == records


def test_parquet_exports_read_as_json_lines(tmp_path):
    import pyarrow
    import pyarrow.parquet

    rows = [json.loads(line) for line in (DATASETS / "amazon_polarity" / "train.jsonl").open()]
    (tmp_path / "amazon_polarity").mkdir()
    pyarrow.parquet.write_table(
        pyarrow.Table.from_pylist(rows), tmp_path / "amazon_polarity" / "train.parquet"
    )
    from_parquet, _ = prepare(
        "t0_train", ["amazon_polarity"], tmp_path / "a.jsonl", tmp_path, num_examples=20
    )
    from_json, _ = prepare("t0_train", ["amazon_polarity"], tmp_path / "b.jsonl", num_examples=20)
    assert from_parquet == from_json


def test_bad_rows_are_counted_by_file_and_line(tmp_path):
    folder = tmp_path / "hellaswag"
    folder.mkdir()
    lines = (DATASETS / "hellaswag" / "validation.jsonl").read_text().splitlines()
    broken = json.loads(lines[1])
    broken["endings"] = None  # `endings | join` fails
    (folder / "validation.jsonl").write_text(
        "\n".join([lines[0], "{not json", "", json.dumps(broken)]) + "\n"
    )
    records, report = prepare("t0_eval", ["hellaswag"], tmp_path / "test.jsonl", tmp_path)
    # Row 0 under each of the 4 templates. The row with null endings is not rendered (promptsource
    # would print nothing for `{{ endings[0] }}` of None, or fail on `endings | join`).
    assert len(records) == 4
    path = folder / "validation.jsonl"
    task = "hellaswag_complete_first_then"
    assert report.places(task, "could not be read") == [
        f"{path}, line 2 (malformed JSON (Expecting property name enclosed in double quotes at "
        "column 2).)"
    ]
    lacking = "lacked a field that the template reads, or had it null"
    assert report.places(task, lacking) == [f"{path}, line 4 (endings)"]
    assert report.count("hellaswag_complete_first_then", lacking) == 1


def test_a_missing_split_says_how_to_export_it(tmp_path):
    with pytest.raises(ConfigurationError, match=r"load_dataset\(\"super_glue\", \"rte\"\)"):
        prepare("t0_eval", ["super_glue/rte"], tmp_path / "test.jsonl", tmp_path)
    # StoryCloze's files are not downloaded by `datasets`.
    with pytest.raises(ConfigurationError) as error:
        prepare("t0_eval", ["story_cloze/2016"], tmp_path / "test.jsonl", tmp_path)
    assert 'load_dataset("story_cloze", "2016", data_dir="<folder with its files>")' in str(
        error.value
    )
    assert "https://cs.rochester.edu/nlp/rocstories/" in str(error.value)


def test_shots_are_other_rows_of_the_same_template(tmp_path):
    records, report = prepare("t0_eval", ["super_glue/rte"], tmp_path / "test.jsonl", shots=2)
    train = [promptsource_parts(f"super_glue_rte_GPT_3_style/train/{row}") for row in range(3)]
    gpt3 = [r for r in records if r["task"] == "super_glue_rte_GPT_3_style"]
    for record in gpt3:
        assert len(record["shots"]) == 2
        for shot in record["shots"]:
            assert [shot["input"], shot["target"]] in train
    assert not report.counts
    # Drawn from the same split (training): never the instance itself.
    records, _ = prepare(
        "t0_train", ["amazon_polarity"], tmp_path / "train.jsonl", num_examples=36, shots=3
    )
    for record in records:
        prompt = fill_template(record["template"], record["fields"])
        assert len(record["shots"]) == 3
        assert prompt not in [shot["input"] for shot in record["shots"]]
    # Seeded per instance: a second preparation draws the same shots.
    again, _ = prepare(
        "t0_train", ["amazon_polarity"], tmp_path / "again.jsonl", num_examples=36, shots=3
    )
    assert again == records


def test_too_few_rows_for_the_shots_are_reported(tmp_path):
    shutil.copytree(DATASETS / "super_glue" / "copa", tmp_path / "super_glue" / "copa")
    _, report = prepare("t0_eval", ["super_glue/copa"], tmp_path / "test.jsonl", tmp_path, shots=3)
    # "why C1 or C2" renders only `effect` rows: 2 of the 3 train rows.
    reason = "had fewer than 3 few-shot examples available"
    assert report.count("super_glue_copa__why_C1_or_C2", reason) == 2


def test_a_byte_order_mark_starting_an_export_is_accepted(tmp_path):
    # As every reader of the package (`file_reading.without_byte_order_mark`).
    folder = tmp_path / "amazon_polarity"
    folder.mkdir()
    rows = (DATASETS / "amazon_polarity" / "train.jsonl").read_bytes()
    (folder / "train.jsonl").write_bytes(codecs.BOM_UTF8 + rows)
    with_mark, report = prepare(
        "t0_train", ["amazon_polarity"], tmp_path / "a.jsonl", tmp_path, num_examples=20
    )
    assert not report.counts
    assert (
        with_mark
        == prepare("t0_train", ["amazon_polarity"], tmp_path / "b.jsonl", num_examples=20)[0]
    )
