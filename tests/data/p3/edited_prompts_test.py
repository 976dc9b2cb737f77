"""
The authors' edited prompts (allenai/hyper-task-descriptions, `seqio_tasks/all_edited_prompts.txt`,
read as `load_prewritten_prompts` and looked up as `apply_template_split` does, both in
`seqio_tasks/utils.py`).
"""

from hint_allennlp.data.p3.edited_prompts import edited_prompt_key, mask_fields, read_edited_prompts
from hint_allennlp.data.p3.t0_mixture import mixture_tasks
from tests.data.p3.t0_mixture_test import FIXTURE_EVALUATION, FIXTURE_TRAINING


def test_the_file_has_a_prompt_for_every_template_of_the_mixtures():
    prompts = read_edited_prompts()
    assert len(prompts) == 399  # 407 entries, 8 of them repeated
    tasks = mixture_tasks("t0_train") + mixture_tasks("t0_eval")
    assert all(task.edited_prompt is not None for task in tasks)


def test_every_fixture_template_finds_its_prompt():
    prompts = read_edited_prompts()
    tasks = mixture_tasks("t0_train", FIXTURE_TRAINING) + mixture_tasks(
        "t0_eval", FIXTURE_EVALUATION
    )
    assert len(tasks) == 15 + 10 + 12 + 4 + 45
    for task in tasks:
        key = edited_prompt_key(task.dataset.name, task.dataset.subset, task.template.name)
        assert task.edited_prompt == prompts[key], task.name
    rte = next(task for task in tasks if task.name == "super_glue_rte_GPT_3_style")
    assert rte.edited_prompt == "[MASK]\nQuestion: [MASK] True or False?"


def test_fields_are_masked():
    assert mask_fields('Given "[CONTEXT]", answer [QUESTION_1]. [not a key!]') == (
        'Given "[MASK]", answer [MASK]. [not a key!]'
    )


def test_anli_prompts_are_those_of_round_one():
    assert edited_prompt_key("anli", None, "GPT-3 style") == "anli_gpt_3_style_r1"
    rounds = [t for t in mixture_tasks("t0_eval", ["anli"]) if t.template.name == "can we infer"]
    assert len({task.edited_prompt for task in rounds}) == 1 and len(rounds) == 3


def test_other_datasets_naming_anli_keep_their_own_key():
    # The authors' substring test ("anli" in the task name) would send paws's template to
    # `..._r1`, which the file does not have.
    assert edited_prompt_key("paws", "labeled_final", "PAWS-ANLI GPT3") == (
        "paws_labeled_final_paws_anli_gpt3"
    )
    paws = mixture_tasks("t0_train", ["paws/labeled_final"])
    assert next(t for t in paws if t.template.name == "PAWS-ANLI GPT3").edited_prompt is not None
