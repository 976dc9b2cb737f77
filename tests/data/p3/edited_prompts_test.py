"""
Edited prompts as the authors read them (allenai/hyper-task-descriptions,
`seqio_tasks/all_edited_prompts.txt`, read as `load_prewritten_prompts` and looked up as
`apply_template_split` does, both in `seqio_tasks/utils.py`), on a fixture file in their layout
written for these tests; and the template's text that replaces them without the file.
"""

import codecs

from hint_allennlp.data.p3.edited_prompts import (
    edited_prompt_key,
    mask_fields,
    read_edited_prompts,
    template_prompt,
)
from hint_allennlp.data.p3.t0_mixture import mixture_tasks
from tests import FIXTURES_ROOT
from tests.data.p3.t0_mixture_test import FIXTURE_EVALUATION, FIXTURE_TRAINING

# Prompts written for the fixture datasets' templates, in the layout of the authors' file.
EDITED_PROMPTS = FIXTURES_ROOT / "p3" / "edited_prompts.txt"


def fixture_tasks(edited_prompts=EDITED_PROMPTS):
    return mixture_tasks(
        "t0_train", FIXTURE_TRAINING, edited_prompts=edited_prompts
    ) + mixture_tasks("t0_eval", FIXTURE_EVALUATION, edited_prompts=edited_prompts)


def test_entries_are_read_as_the_authors_read_them():
    prompts = read_edited_prompts(EDITED_PROMPTS)
    # 59 entries: one without its prompt part is skipped, and one repeated is replaced by the later.
    assert len(prompts) == 57
    assert prompts["super_glue_rte_can_we_infer"] == (
        'Assume [MASK] Does it let us conclude "[MASK]"? Yes or no?'
    )
    assert "super_glue_rte_no_prompt_part" not in prompts


def test_every_fixture_template_finds_its_prompt():
    prompts = read_edited_prompts(EDITED_PROMPTS)
    tasks = fixture_tasks()
    assert len(tasks) == 15 + 10 + 12 + 4 + 45
    for task in tasks:
        key = edited_prompt_key(task.dataset.name, task.dataset.subset, task.template.name)
        assert task.edited_prompt == prompts[key], task.name
    rte = next(task for task in tasks if task.name == "super_glue_rte_GPT_3_style")
    assert rte.edited_prompt == (
        "Read the passage [MASK] and say whether the statement [MASK] is true or false."
    )


def test_without_the_file_no_task_has_an_edited_prompt():
    assert all(task.edited_prompt is None for task in fixture_tasks(None))


def test_fields_are_masked():
    assert mask_fields('Given "[CONTEXT]", answer [QUESTION_1]. [not a key!]') == (
        'Given "[MASK]", answer [MASK]. [not a key!]'
    )


def test_the_templates_text_has_every_field_as_mask():
    assert template_prompt("{{premise}}\nQuestion: {{ hypothesis }} True or False?") == (
        "[MASK]\nQuestion: [MASK] True or False?"
    )


def test_anli_prompts_are_those_of_round_one():
    assert edited_prompt_key("anli", None, "GPT-3 style") == "anli_gpt_3_style_r1"
    rounds = [
        task
        for task in mixture_tasks("t0_eval", ["anli"], edited_prompts=EDITED_PROMPTS)
        if task.template.name == "can we infer"
    ]
    assert len(rounds) == 3
    assert {task.edited_prompt for task in rounds} == {
        'Assume [MASK] Does it let us conclude "[MASK]"? Yes, no, or maybe?'
    }


def test_other_datasets_naming_anli_keep_their_own_key():
    # The authors append `_r1` where "anli" is in the task name, before lowercasing it: paws's
    # `paws_labeled_final_PAWS_ANLI_GPT3` has "ANLI" only, so it keeps its own key, as here.
    assert edited_prompt_key("paws", "labeled_final", "PAWS-ANLI GPT3") == (
        "paws_labeled_final_paws_anli_gpt3"
    )
    paws = mixture_tasks("t0_train", ["paws/labeled_final"], edited_prompts=EDITED_PROMPTS)
    assert next(t for t in paws if t.template.name == "PAWS-ANLI GPT3").edited_prompt == (
        "[MASK] Does this say the same as [MASK]? True or False?"
    )


def test_a_byte_order_mark_starting_the_file_is_accepted(tmp_path):
    path = tmp_path / "all_edited_prompts.txt"
    path.write_bytes(codecs.BOM_UTF8 + EDITED_PROMPTS.read_bytes())
    assert read_edited_prompts(path) == read_edited_prompts(EDITED_PROMPTS)
