"""
The hypernetwork's text for P3: the authors' hand-edited prompts (allenai/hyper-task-descriptions,
`hyper_task_descriptions/seqio_tasks/all_edited_prompts.txt`, read as `load_prewritten_prompts` in
`seqio_tasks/utils.py` does, HEAD fd86a43), which the user gives from a clone of that repository
(they do not ship with this package), or, without them, the prompt's template with every field
as `[MASK]` (`template_prompt`), as the authors' prompts write fields.

The file holds entries `dataset<TAB>||||<TAB>template<TAB>||||<TAB>prompt` separated by a line of
28 asterisks; the prompt writes the example's fields as `[PREMISE]`, `[CHOICE1]`, ..., and each such
`[KEY]` is replaced by `[MASK]`. An entry is found by its task name, lowercased: the dataset (and
subset) joined to the template name as T0 names tasks, with ANLI's prompts under round 1
(`anli_<template>_r1`) for all three rounds.
"""

import re
from pathlib import Path
from typing import Dict, Optional

from hint_allennlp.data.dataset_readers.p3 import fill_template, template_field_names
from hint_allennlp.data.file_reading import read_text_file
from hint_allennlp.data.p3.task_names import task_name

ENTRY_SEPARATOR = "*" * 28
FIELD_SEPARATOR = "\t||||\t"
FIELD_KEY = re.compile(r"\[[A-Za-z0-9_]+\]")
MASK = "[MASK]"


def mask_fields(prompt: str) -> str:
    """Every `[KEY]` of an edited prompt as `[MASK]` (`replace_keys`)."""
    return FIELD_KEY.sub(MASK, prompt)


def template_prompt(template: str) -> str:
    """
    The hypernetwork's text without an edited prompt: a record's template (`{{name}}`
    placeholders) with every field as `[MASK]`, as the authors' edited prompts end up. This
    project's choice: it follows the row's branch of a template that branches on the example.
    """
    return fill_template(template, {name: MASK for name in template_field_names(template)})


def read_edited_prompts(path: Path) -> Dict[str, str]:
    """
    Lowercased task name -> masked prompt. Entries with fewer than three parts are skipped and a
    later entry for the same task replaces an earlier one, as `load_prewritten_prompts` does (the
    authors' file has 407 entries for 399 tasks).
    """
    prompts = {}
    for entry in read_text_file(path).split(ENTRY_SEPARATOR):
        parts = entry.strip().split(FIELD_SEPARATOR)
        if len(parts) > 2:
            prompts[(parts[0] + "_" + parts[1]).lower().strip()] = mask_fields(parts[2])
    return prompts


def edited_prompt_key(dataset: str, subset: Optional[str], template_name: str) -> str:
    """
    The key of a template's edited prompt. `apply_template_split` appends `_r1` to every task name
    that contains "anli" (case-sensitive, before the name is lowercased): the ANLI dataset's, not
    paws's `..._PAWS_ANLI_GPT3`; here the ANLI dataset's templates get it.
    """
    key = task_name(dataset, subset, template_name).replace("_score_eval", "")
    if dataset == "anli":
        key += "_r1"
    return key.lower()
