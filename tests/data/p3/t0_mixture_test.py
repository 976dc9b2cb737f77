"""
T0's mixture as bigscience-workshop/t-zero (`t0/seqio_tasks/tasks.py`) and the authors
(allenai/hyper-task-descriptions, `seqio_tasks/t0_tasks.py`, `my_t0_tasks.py`) build it, from the
templates of promptsource 0.2.3's source archive and the project's table of T0's datasets, or a
file in the layout of t-zero's `t0/datasets.csv`.
"""

import codecs
import csv
import json
import logging
import tarfile

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.data.p3.promptsource_distribution import (
    PROMPTSOURCE_VERSION,
    PromptsourceTemplates,
    cached_sdist,
)
from hint_allennlp.data.p3.t0_mixture import (
    MAX_EXAMPLES_PER_DATASET,
    mixture_cap,
    mixture_tasks,
    read_datasets_csv,
    read_t0_datasets,
    total_cap,
)
from tests import FIXTURES_ROOT

# A few rows in the layout of t-zero's `t0/datasets.csv`, written for the tests.
DATASETS_CSV = FIXTURES_ROOT / "p3" / "t0_dataset_rows.csv"

# The datasets the fixtures hold rows of (fixtures/p3/datasets/).
FIXTURE_TRAINING = ["multi_news", "amazon_polarity"]
FIXTURE_EVALUATION = ["super_glue/rte", "super_glue/copa", "hellaswag", "anli"]


def test_the_cap_of_a_template():
    # `cap = MAX_EXAMPLES_PER_DATASET // num_templates` above 500,000 examples, else `train_size`.
    assert MAX_EXAMPLES_PER_DATASET == 500_000
    assert mixture_cap(3_600_000, 9) == 55_555  # amazon_polarity
    assert mixture_cap(44_972, 6) == 44_972  # multi_news
    assert mixture_cap(500_000, 7) == 500_000


def test_the_fixture_mixture():
    tasks = mixture_tasks("t0_train", FIXTURE_TRAINING)
    caps = {task.dataset.folder: task.cap for task in tasks}
    assert caps == {"multi_news": 44_972, "amazon_polarity": 55_555}
    assert [task.dataset.folder for task in tasks].count("amazon_polarity") == 9
    assert total_cap(tasks) == 6 * 44_972 + 9 * 55_555 == 769_827
    assert {task.split for task in tasks} == {"train"}


def test_the_full_training_mixture():
    # 38 datasets, 313 templates, none blacklisted; the issue (from the authors' setup) gives
    # 17,277,798, and the paper's Table 8 17,277,532 "adjusted for sampling".
    tasks = mixture_tasks("t0_train")
    assert len(tasks) == 313
    assert len({task.dataset.folder for task in tasks}) == 38
    assert total_cap(tasks) == 17_277_798


def test_the_held_out_evaluation():
    tasks = mixture_tasks("t0_eval")
    assert len(tasks) == 116
    assert all(task.template.original_task and task.template.answer_choices for task in tasks)
    by_dataset = {}
    for task in tasks:
        by_dataset[task.categories[0]] = by_dataset.get(task.categories[0], 0) + 1
    assert by_dataset == {
        "super_glue_wsc.fixed": 10,
        "winogrande_winogrande_xl": 5,
        "super_glue_cb": 15,
        "super_glue_rte": 10,
        "anli": 45,
        "super_glue_copa": 12,
        "story_cloze_2016": 5,
        "hellaswag": 4,
        "super_glue_wic": 10,
    }
    story_cloze = [task for task in tasks if task.dataset.name == "story_cloze"]
    assert {(task.split, task.shot_split) for task in story_cloze} == {("validation", "validation")}


def test_anli_rounds_are_tasks_of_their_own():
    tasks = [task for task in mixture_tasks("t0_eval", ["anli"])]
    assert len(tasks) == 3 * 15
    gpt3 = [task for task in tasks if task.template.name == "GPT-3 style"]
    assert [(t.name, t.split, t.shot_split, t.categories) for t in gpt3] == [
        ("anli_GPT_3_style_r1", "dev_r1", "train_r1", ("anli", "anli_r1")),
        ("anli_GPT_3_style_r2", "dev_r2", "train_r2", ("anli", "anli_r2")),
        ("anli_GPT_3_style_r3", "dev_r3", "train_r3", ("anli", "anli_r3")),
    ]


def test_blacklisted_templates_are_left_out_but_counted_in_the_cap(tmp_path):
    # gigaword's `summarize_` is on T0's blacklist; promptsource 0.2.3 has no template of that
    # name, so one is added to a copy of its templates, given as a templates/ folder.
    with tarfile.open(cached_sdist()) as archive:
        member = archive.extractfile(
            f"promptsource-{PROMPTSOURCE_VERSION}/promptsource/templates/gigaword/templates.yaml"
        )
        text = member.read().decode()
    path = tmp_path / "templates" / "gigaword" / "templates.yaml"
    path.parent.mkdir(parents=True)
    extra = (
        "  blacklisted-template: !Template\n    answer_choices: null\n    id: blacklisted\n"
        "    jinja: '{{document}} ||| {{summary}}'\n    metadata: !TemplateMetadata\n"
        "      choices_in_prompt: false\n      metrics: []\n      original_task: true\n"
        "    name: summarize_\n    reference: ''\n"
    )
    path.write_text(text + extra)
    copy = PromptsourceTemplates(tmp_path / "templates")
    tasks = mixture_tasks("t0_train", ["gigaword"], templates=copy)
    shipped = mixture_tasks("t0_train", ["gigaword"])
    assert "gigaword_summarize_" not in {task.name for task in tasks}
    assert len(tasks) == len(shipped)
    assert tasks[0].cap == MAX_EXAMPLES_PER_DATASET // (len(shipped) + 1)


def test_unknown_datasets_are_refused():
    with pytest.raises(ConfigurationError, match="Not datasets of t0_eval: \\['multi_news'\\]"):
        mixture_tasks("t0_eval", ["multi_news"])
    with pytest.raises(ConfigurationError, match="mixture must be one of"):
        mixture_tasks("t0++")


def test_the_table_holds_t0s_training_and_held_out_datasets():
    datasets = read_t0_datasets()
    assert sum(dataset.role == "training" for dataset in datasets) == 38
    held_out = [dataset.folder for dataset in datasets if dataset.role == "evaluation"]
    assert sorted(held_out) == [
        "anli",
        "hellaswag",
        "story_cloze/2016",
        "super_glue/cb",
        "super_glue/copa",
        "super_glue/rte",
        "super_glue/wic",
        "super_glue/wsc.fixed",
        "winogrande/winogrande_xl",
    ]
    assert [d.train_size for d in datasets if d.folder == "story_cloze/2016"] == [None]


def test_a_datasets_csv_is_read_by_its_base_rows():
    datasets = read_datasets_csv(DATASETS_CSV)
    # example_corpus's row is not BASE; COPA is held out only.
    assert [(d.folder, d.role, d.train_size) for d in datasets] == [
        ("super_glue/rte", "evaluation", 2490),
        ("anli", "evaluation", 162865),
        ("super_glue/copa", "evaluation", 400),
        ("hellaswag", "evaluation", 39905),
        ("amazon_polarity", "training", 3600000),
        ("multi_news", "training", 44972),
    ]
    assert datasets[0].source == f"{DATASETS_CSV}, line 3"


def test_a_datasets_csv_agreeing_with_the_table_gives_the_same_mixtures(caplog):
    with caplog.at_level(logging.WARNING):
        from_csv = mixture_tasks("t0_train", FIXTURE_TRAINING, datasets_csv=DATASETS_CSV)
    assert from_csv == mixture_tasks("t0_train", FIXTURE_TRAINING)
    evaluation = mixture_tasks("t0_eval", FIXTURE_EVALUATION, datasets_csv=DATASETS_CSV)
    assert evaluation == mixture_tasks("t0_eval", FIXTURE_EVALUATION)
    # The rows it has agree; the table's other 41 datasets are named as missing.
    (warning,) = {record.getMessage() for record in caplog.records}
    assert "in 1 place(s)" in warning
    assert "41 dataset(s) of the table that the file does not have: super_glue/wsc.fixed" in (
        warning
    )


def test_the_whole_table_as_a_datasets_csv_agrees(tmp_path, caplog):
    path = tmp_path / "datasets.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["HF_name", "subset", "task_by_convention", "do_train", "do_eval", "train_size"]
        )
        for d in read_t0_datasets():
            roles = ("BASE", "") if d.role == "training" else ("", "BASE")
            size = "" if d.train_size is None else d.train_size
            writer.writerow([d.name, d.subset or "", "", *roles, size])
    with caplog.at_level(logging.INFO):
        tasks = mixture_tasks("t0_train", datasets_csv=path)
    assert total_cap(tasks) == 17_277_798
    assert f"{path} agrees with this project's table" in caplog.text
    assert len(mixture_tasks("t0_eval", datasets_csv=path)) == 116


def test_where_a_datasets_csv_differs_it_is_used_and_the_difference_named(tmp_path, caplog):
    path = tmp_path / "datasets.csv"
    text = DATASETS_CSV.read_text()
    path.write_text(
        text.replace(
            "amazon_polarity,,reviews,BASE,,3600000", "amazon_polarity,,reviews,BASE,,400000"
        )
    )
    with caplog.at_level(logging.WARNING):
        tasks = mixture_tasks("t0_train", ["amazon_polarity"], datasets_csv=path)
    assert {task.cap for task in tasks} == {400_000}
    assert f"{path}, line 7: amazon_polarity has train_size 400000, the table 3600000" in (
        caplog.text
    )


def test_a_byte_order_mark_starting_a_datasets_csv_is_accepted(tmp_path):
    path = tmp_path / "datasets.csv"
    path.write_bytes(codecs.BOM_UTF8 + DATASETS_CSV.read_bytes())
    assert read_datasets_csv(path) == read_datasets_csv(DATASETS_CSV)


def test_a_file_that_is_not_a_datasets_csv_is_refused(tmp_path):
    path = tmp_path / "datasets.csv"
    path.write_text("HF_name,subset,train_size\nimdb,,25000\n")
    with pytest.raises(DataFormatError, match="no column \\['do_train', 'do_eval'\\]"):
        read_datasets_csv(path)
    path.write_text(DATASETS_CSV.read_text() + "anli,,inference,,BASE,162865\n")
    with pytest.raises(
        DataFormatError, match="line 9: anli \\(evaluation\\) is listed already, at .*line 4"
    ):
        read_datasets_csv(path)
    path.write_text(DATASETS_CSV.read_text().replace("2490", '"2,490"'))
    with pytest.raises(DataFormatError, match="line 3: train_size '2,490' is not a whole number"):
        read_datasets_csv(path)


def test_a_malformed_table_is_refused(tmp_path):
    path = tmp_path / "t0_datasets.json"
    entry = {"name": "imdb", "subset": None, "role": "training", "train_size": 25000}
    path.write_text(json.dumps({"datasets": [entry, {**entry, "size": 1}]}))
    with pytest.raises(DataFormatError, match=r"datasets\[1\]: expected exactly the keys"):
        read_t0_datasets(path)
    path.write_text(json.dumps({"datasets": [{**entry, "role": "held_out"}]}))
    with pytest.raises(DataFormatError, match="role must be one of"):
        read_t0_datasets(path)
