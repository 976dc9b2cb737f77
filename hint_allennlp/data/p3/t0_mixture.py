"""
T0's training mixture and held-out evaluation as tasks (one promptsource template of one dataset
each), as bigscience-workshop/t-zero builds them (`t0/seqio_tasks/tasks.py`) and the authors after
it (allenai/hyper-task-descriptions, `hyper_task_descriptions/seqio_tasks/t0_tasks.py` and
`my_t0_tasks.py`, HEAD fd86a43).

- Training (`t0_train`): the `datasets.csv` rows with `do_train` BASE, every template of each
  dataset except those in `TASK_BLACKLIST`, rendered on the train split. Each template is sampled in
  proportion to its cap: `MAX_EXAMPLES_PER_DATASET // num_templates` if the dataset's `train_size`
  exceeds `MAX_EXAMPLES_PER_DATASET`, else `train_size`, where `num_templates` counts all of the
  dataset's templates (blacklisted ones too).
- Evaluation (`t0_eval`): the rows with `do_eval` BASE, their `original_task` templates with answer
  choices, on the validation split; ANLI (whose rounds are splits, not subsets) once per round on
  `dev_r1`, `dev_r2`, `dev_r3`, named `<task>_r1` ...

Few-shot examples come from the same template on the train split (ANLI: the round's `train_r*`),
StoryCloze's from its validation split (it has no train split; `my_t0_tasks.py`).
"""

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.p3.edited_prompts import edited_prompt_key, read_edited_prompts
from hint_allennlp.data.p3.promptsource_templates import PromptTemplate, read_templates
from hint_allennlp.data.p3.resources import DATASETS_CSV, EDITED_PROMPTS, TEMPLATES_DIR
from hint_allennlp.data.p3.task_names import task_name

MIXTURES = ("t0_train", "t0_eval")
MAX_EXAMPLES_PER_DATASET = 500_000
ANLI_ROUNDS = ("r1", "r2", "r3")

# t-zero `t0/seqio_tasks/tasks.py` `TASK_BLACKLIST` (the same list in the authors' `t0_tasks.py`):
# tasks whose inputs often exceed 1,024 tokens, and one with broken cached files. None of them is a
# template of promptsource 0.2.3's T0 datasets, so the caps sum over all 313 of them.
TASK_BLACKLIST = frozenset(
    {
        "hotpot_qa_distractor_Generate_Explanations",
        "hotpot_qa_fullwiki_Generate_Explanations",
        "hotpot_qa_distractor_Generate_Answer_and_Explanations",
        "hotpot_qa_fullwiki_Generate_Answer_and_Explanations",
        "hotpot_qa_fullwiki_Generate_Answer",
        "hotpot_qa_distractor_Generate_Answer",
        "hotpot_qa_distractor_Generate_Title_2",
        "hotpot_qa_fullwiki_Generate_Title_2",
        "hotpot_qa_fullwiki_Generate_Title_1",
        "hotpot_qa_distractor_Generate_Title_1",
        "hotpot_qa_distractor_Generate_Question",
        "hotpot_qa_fullwiki_Generate_Question",
        "tab_fact_tab_fact_tab_fact_3",
        "tab_fact_tab_fact_tab_fact_2",
        "tab_fact_tab_fact_tab_fact_1",
        "tab_fact_tab_fact_tab_fact_7",
        "tab_fact_tab_fact_tab_fact_4",
        "tab_fact_tab_fact_tab_fact_5",
        "tab_fact_tab_fact_tab_fact_6",
        "wiki_hop_masked_Choose_Best_Object_Candidate",
        "wiki_hop_masked_Indirect_Question_about_Birthplace_Citizenship_Place_of_Death",
        "narrativeqa_Template_05",
        "ecthr_cases_alleged_violation_prediction_silver_rationales",
        "gigaword_summarize_",
    }
)


@dataclass(frozen=True)
class T0Dataset:
    """A row of T0's `datasets.csv`."""

    name: str  # the HF dataset name, `HF_name`
    subset: Optional[str]
    task_by_convention: str
    do_train: str
    do_eval: str
    train_size: int  # 0 where the file leaves it empty

    @property
    def folder(self) -> str:
        """`name/subset` (or `name`): where its templates and its exported splits lie."""
        return self.name if self.subset is None else f"{self.name}/{self.subset}"

    @property
    def key(self) -> str:
        """The dataset as its task names begin: `super_glue_rte`, `anli`."""
        return task_name(self.name, self.subset, "")[:-1]


@dataclass(frozen=True)
class T0Task:
    """
    One template of one dataset, as rendered for a mixture.

    name : T0's task name (`super_glue_rte_GPT_3_style`; ANLI's end in the round, `_r1`).
    split, shot_split : the split rendered, and the split few-shot examples are drawn from.
    categories : the dataset's key, and for ANLI the round's (`anli`, `anli_r1`): coarse to fine,
        what evaluation averages prompts over (Table 10).
    cap : the training mixing rate (0 in evaluation).
    edited_prompt : the authors' edited prompt for the template (`edited_prompts`), None if absent.
    """

    name: str
    dataset: T0Dataset
    template: PromptTemplate
    split: str
    shot_split: str
    categories: Tuple[str, ...]
    cap: int
    edited_prompt: Optional[str]


def read_datasets_csv(path: Path = DATASETS_CSV) -> List[T0Dataset]:
    datasets = []
    with open(path, encoding="utf-8", newline="") as file:
        for line_number, row in enumerate(csv.DictReader(file), start=2):
            try:
                datasets.append(
                    T0Dataset(
                        name=row["HF_name"],
                        subset=row["subset"] or None,
                        task_by_convention=row["task_by_convention"],
                        do_train=row["do_train"],
                        do_eval=row["do_eval"],
                        train_size=int(row["train_size"] or 0),
                    )
                )
            except (KeyError, ValueError) as error:
                raise ConfigurationError(f"{path}, line {line_number}: {error!r}") from None
    return datasets


def mixture_cap(train_size: int, num_templates: int) -> int:
    """A template's mixing rate: its share of at most `MAX_EXAMPLES_PER_DATASET` examples."""
    if train_size > MAX_EXAMPLES_PER_DATASET:
        return MAX_EXAMPLES_PER_DATASET // num_templates
    return train_size


def dataset_templates(
    dataset: T0Dataset, templates_dir: Path = TEMPLATES_DIR
) -> List[PromptTemplate]:
    path = templates_dir / dataset.folder / "templates.yaml"
    if not path.is_file():
        raise ConfigurationError(f"No templates for {dataset.folder}: {path} does not exist.")
    return read_templates(path)


def mixture_tasks(
    mixture: str,
    datasets: Optional[Sequence[str]] = None,
    templates_dir: Path = TEMPLATES_DIR,
    datasets_csv: Path = DATASETS_CSV,
    edited_prompts: Path = EDITED_PROMPTS,
) -> List[T0Task]:
    """
    The tasks of `mixture` (`t0_train` or `t0_eval`), in `datasets.csv` order and template-name
    order; `datasets` (folders such as `super_glue/rte`) restricts them to those datasets of it.
    """
    if mixture not in MIXTURES:
        raise ConfigurationError(f"mixture must be one of {MIXTURES}, not {mixture!r}.")
    column = "do_train" if mixture == "t0_train" else "do_eval"
    members = [row for row in read_datasets_csv(datasets_csv) if getattr(row, column) == "BASE"]
    if datasets is not None:
        unknown = sorted(set(datasets) - {row.folder for row in members})
        if unknown:
            raise ConfigurationError(
                f"Not datasets of {mixture}: {unknown}; its datasets are "
                f"{[row.folder for row in members]}."
            )
        members = [row for row in members if row.folder in set(datasets)]
    prompts = read_edited_prompts(edited_prompts)
    tasks: List[T0Task] = []
    for dataset in members:
        templates = dataset_templates(dataset, templates_dir)
        if mixture == "t0_train":
            cap = mixture_cap(dataset.train_size, len(templates))
            tasks.extend(_tasks(dataset, templates, [("", "train", "train")], cap, prompts))
        else:
            scored = [t for t in templates if t.original_task and t.answer_choices is not None]
            tasks.extend(_tasks(dataset, scored, _evaluation_splits(dataset), 0, prompts))
    return [task for task in tasks if task.name not in TASK_BLACKLIST]


def _evaluation_splits(dataset: T0Dataset) -> List[Tuple[str, str, str]]:
    """(task-name suffix, split, shot split) for each evaluation of the dataset's templates."""
    if dataset.name == "anli":
        return [(f"_{r}", f"dev_{r}", f"train_{r}") for r in ANLI_ROUNDS]
    if dataset.name == "story_cloze":
        return [("", "validation", "validation")]
    return [("", "validation", "train")]


def _tasks(
    dataset: T0Dataset,
    templates: Iterable[PromptTemplate],
    splits: Sequence[Tuple[str, str, str]],
    cap: int,
    prompts: Dict[str, str],
) -> List[T0Task]:
    return [
        T0Task(
            name=task_name(dataset.name, dataset.subset, template.name) + suffix,
            dataset=dataset,
            template=template,
            split=split,
            shot_split=shot_split,
            categories=(dataset.key,) + ((f"{dataset.key}{suffix}",) if suffix else ()),
            cap=cap,
            edited_prompt=prompts.get(
                edited_prompt_key(dataset.name, dataset.subset, template.name)
            ),
        )
        for suffix, split, shot_split in splits
        for template in templates
    ]


def total_cap(tasks: Iterable[T0Task]) -> int:
    """Σ cap: the size of one pass over the capped mixture (Table 8's 'adjusted for sampling')."""
    return sum(task.cap for task in tasks)
