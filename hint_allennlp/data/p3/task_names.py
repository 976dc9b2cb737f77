"""T0's task names (bigscience-workshop/t-zero, `t0/seqio_tasks/utils.py`: `get_task_name`)."""

import re
from typing import Optional

_NOT_IN_TASK_NAMES = re.compile(r"[^\w\d\._]+")


def task_name(dataset: str, subset: Optional[str], template_name: str) -> str:
    """
    `dataset_subset_template` (`dataset_template` without a subset), each run of characters other
    than word characters, digits, `.` and `_` replaced by `_`: super_glue, rte, "GPT-3 style" ->
    `super_glue_rte_GPT_3_style`.
    """
    joined = dataset + (f"_{subset}_" if subset is not None else "_") + template_name
    return _NOT_IN_TASK_NAMES.sub("_", joined)
