"""
T0's mixture as bigscience-workshop/t-zero (`t0/seqio_tasks/tasks.py`) and the authors
(allenai/hyper-task-descriptions, `seqio_tasks/t0_tasks.py`, `my_t0_tasks.py`) build it, from the
shipped promptsource 0.2.3 templates and T0's `datasets.csv`.
"""

import shutil

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.p3.resources import TEMPLATES_DIR
from hint_allennlp.data.p3.t0_mixture import (
    MAX_EXAMPLES_PER_DATASET,
    mixture_cap,
    mixture_tasks,
    total_cap,
)

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
    # name, so one is added to a copy of the templates.
    shutil.copytree(TEMPLATES_DIR, tmp_path / "templates")
    path = tmp_path / "templates" / "gigaword" / "templates.yaml"
    text = path.read_text()
    extra = (
        "  blacklisted-template: !Template\n    answer_choices: null\n    id: blacklisted\n"
        "    jinja: '{{document}} ||| {{summary}}'\n    metadata: !TemplateMetadata\n"
        "      choices_in_prompt: false\n      metrics: []\n      original_task: true\n"
        "    name: summarize_\n    reference: ''\n"
    )
    path.write_text(text + extra)
    tasks = mixture_tasks("t0_train", ["gigaword"], templates_dir=tmp_path / "templates")
    shipped = mixture_tasks("t0_train", ["gigaword"])
    assert "gigaword_summarize_" not in {task.name for task in tasks}
    assert len(tasks) == len(shipped)
    assert tasks[0].cap == MAX_EXAMPLES_PER_DATASET // (len(shipped) + 1)


def test_unknown_datasets_are_refused():
    with pytest.raises(ConfigurationError, match="Not datasets of t0_eval: \\['multi_news'\\]"):
        mixture_tasks("t0_eval", ["multi_news"])
    with pytest.raises(ConfigurationError, match="mixture must be one of"):
        mixture_tasks("t0++")
