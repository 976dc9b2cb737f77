"""
T0's training mixture and held-out evaluation as tasks (one promptsource template of one dataset
each), as bigscience-workshop/t-zero builds them (`t0/seqio_tasks/tasks.py`) and the authors after
it (allenai/hyper-task-descriptions, `hyper_task_descriptions/seqio_tasks/t0_tasks.py` and
`my_t0_tasks.py`, HEAD fd86a43).

- The datasets: this project's table `resources/t0_datasets.json` (T0's training and held-out
  datasets with their train sizes), or t-zero's own `t0/datasets.csv` where the user gives it
  (`read_datasets_csv`; its rows with `do_train` or `do_eval` BASE), checked against the table.
- Training (`t0_train`): the training datasets, every template of each except those in
  `TASK_BLACKLIST`, rendered on the train split. Each template is sampled in proportion to its
  cap: `MAX_EXAMPLES_PER_DATASET // num_templates` if the dataset's `train_size` exceeds
  `MAX_EXAMPLES_PER_DATASET`, else `train_size`, where `num_templates` counts all of the
  dataset's templates (blacklisted ones too).
- Evaluation (`t0_eval`): the held-out datasets, their `original_task` templates with answer
  choices, on the validation split; ANLI (whose rounds are splits, not subsets) once per round on
  `dev_r1`, `dev_r2`, `dev_r3`, named `<task>_r1` ...

Few-shot examples come from the same template on the train split (ANLI: the round's `train_r*`),
StoryCloze's from its validation split (it has no train split; `my_t0_tasks.py`).
"""

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.file_reading import DataFormatError, read_json_file, read_text_file
from hint_allennlp.data.p3.edited_prompts import edited_prompt_key, read_edited_prompts
from hint_allennlp.data.p3.promptsource_distribution import (
    PromptsourceTemplates,
    default_templates,
)
from hint_allennlp.data.p3.promptsource_templates import PromptTemplate
from hint_allennlp.data.p3.resources import T0_DATASETS
from hint_allennlp.data.p3.task_names import task_name

logger = logging.getLogger(__name__)

MIXTURES = ("t0_train", "t0_eval")
# A dataset's role: in T0's training mixture, or held out for evaluation.
ROLES = ("training", "evaluation")
MIXTURE_ROLES = {"t0_train": "training", "t0_eval": "evaluation"}
# datasets.csv: the columns read, and the value that puts a row in T0's mixtures.
CSV_COLUMNS = ("HF_name", "subset", "do_train", "do_eval", "train_size")
CSV_ROLE_COLUMNS = {"do_train": "training", "do_eval": "evaluation"}
CSV_MEMBER = "BASE"
DATASET_KEYS = {"name", "subset", "role", "train_size"}
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
    """
    One of T0's datasets in one role: an entry of `t0_datasets.json`, or a BASE row of
    `datasets.csv`.

    name : the HF dataset name (`HF_name`).
    subset : its configuration, None without one.
    role : `training` (in T0's training mixture) or `evaluation` (held out).
    train_size : the size of its train split, None where it has none.
    source : where it was read (file, and entry or line), for messages.
    """

    name: str
    subset: Optional[str]
    role: str
    train_size: Optional[int]
    source: str = field(default="", compare=False)

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
    edited_prompt : the authors' edited prompt for the template (`edited_prompts`), None without
        their file or an entry for the template.
    """

    name: str
    dataset: T0Dataset
    template: PromptTemplate
    split: str
    shot_split: str
    categories: Tuple[str, ...]
    cap: int
    edited_prompt: Optional[str]


def read_t0_datasets(path: Path = T0_DATASETS) -> List[T0Dataset]:
    """The project's table of T0's datasets (`resources/t0_datasets.json`)."""
    document = read_json_file(path)
    entries = document.get("datasets") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise DataFormatError(f"{path}: expected an object with a 'datasets' list.")
    datasets = []
    for number, entry in enumerate(entries):
        location = f"{path}, datasets[{number}]"
        if not isinstance(entry, dict) or set(entry) != DATASET_KEYS:
            raise DataFormatError(f"{location}: expected exactly the keys {sorted(DATASET_KEYS)}.")
        datasets.append(
            _dataset(entry["name"], entry["subset"], entry["role"], entry["train_size"], location)
        )
    return _without_repeats(datasets)


def read_datasets_csv(path: Path) -> List[T0Dataset]:
    """
    The rows of t-zero's `t0/datasets.csv` with `do_train` or `do_eval` BASE, one `T0Dataset` per
    such column (other columns and rows are not read).
    """
    datasets = []
    reader = csv.DictReader(io.StringIO(read_text_file(path), newline=""))
    missing = [column for column in CSV_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise DataFormatError(f"{path}: not T0's datasets.csv, it has no column {missing}.")
    for row in reader:
        location = f"{path}, line {reader.line_num}"  # the row's last line
        for column, role in CSV_ROLE_COLUMNS.items():
            if row[column] != CSV_MEMBER:
                continue
            try:
                train_size = int(row["train_size"]) if row["train_size"] else None
            except ValueError:
                raise DataFormatError(
                    f"{location}: train_size {row['train_size']!r} is not a whole number."
                ) from None
            datasets.append(
                _dataset(row["HF_name"], row["subset"] or None, role, train_size, location)
            )
    return _without_repeats(datasets)


def _dataset(name: Any, subset: Any, role: Any, train_size: Any, location: str) -> T0Dataset:
    if not isinstance(name, str) or not name:
        raise DataFormatError(f"{location}: the dataset's name must be a non-empty string.")
    if subset is not None and not (isinstance(subset, str) and subset):
        raise DataFormatError(f"{location}: subset must be a non-empty string or null.")
    if role not in ROLES:
        raise DataFormatError(f"{location}: role must be one of {ROLES}, not {role!r}.")
    if train_size is not None and (
        not isinstance(train_size, int) or isinstance(train_size, bool) or train_size < 0
    ):
        raise DataFormatError(f"{location}: train_size must be a count or null.")
    return T0Dataset(name, subset, role, train_size, location)


def _without_repeats(datasets: List[T0Dataset]) -> List[T0Dataset]:
    """`datasets`, refused if one is listed twice in a role (its tasks would be made twice)."""
    first: Dict[Tuple[str, str], T0Dataset] = {}
    for dataset in datasets:
        earlier = first.setdefault((dataset.folder, dataset.role), dataset)
        if earlier is not dataset:
            raise DataFormatError(
                f"{dataset.source}: {dataset.folder} ({dataset.role}) is listed already, at "
                f"{earlier.source}."
            )
    return datasets


def datasets_differences(datasets: Sequence[T0Dataset], table: Sequence[T0Dataset]) -> List[str]:
    """
    Where `datasets` (e.g. read from a `datasets.csv`) differ from `table` (the project's): a
    dataset in one role in one of them only, or with another train size. Empty when they agree.
    """
    by_key = {(dataset.folder, dataset.role): dataset for dataset in table}
    differences, seen = [], set()
    for dataset in datasets:
        key = (dataset.folder, dataset.role)
        seen.add(key)
        known = by_key.get(key)
        if known is None:
            differences.append(
                f"{dataset.source}: {dataset.folder} ({dataset.role}), which the table does not "
                "have"
            )
        elif known.train_size != dataset.train_size:
            differences.append(
                f"{dataset.source}: {dataset.folder} has train_size {dataset.train_size}, the "
                f"table {known.train_size}"
            )
    absent = [f"{folder} ({role})" for folder, role in by_key if (folder, role) not in seen]
    if absent:
        differences.append(
            f"{len(absent)} dataset(s) of the table that the file does not have: "
            + ", ".join(absent)
        )
    return differences


def mixture_datasets(datasets_csv: Optional[Path] = None) -> List[T0Dataset]:
    """
    T0's datasets: the project's table, or the BASE rows of `datasets_csv` (t-zero's
    `t0/datasets.csv`) where given, with a warning that lists where the file and the table differ.
    """
    table = read_t0_datasets()
    if datasets_csv is None:
        return table
    datasets = read_datasets_csv(datasets_csv)
    differences = datasets_differences(datasets, table)
    if differences:
        logger.warning(
            "%s differs from this project's table of T0's datasets (%s) in %d place(s); the "
            "file's datasets are used:\n  %s",
            datasets_csv,
            T0_DATASETS,
            len(differences),
            "\n  ".join(differences),
        )
    else:
        logger.info("%s agrees with this project's table of T0's datasets.", datasets_csv)
    return datasets


def mixture_cap(train_size: int, num_templates: int) -> int:
    """A template's mixing rate: its share of at most `MAX_EXAMPLES_PER_DATASET` examples."""
    if train_size > MAX_EXAMPLES_PER_DATASET:
        return MAX_EXAMPLES_PER_DATASET // num_templates
    return train_size


def mixture_tasks(
    mixture: str,
    datasets: Optional[Sequence[str]] = None,
    templates: Optional[PromptsourceTemplates] = None,
    datasets_csv: Optional[Path] = None,
    edited_prompts: Optional[Path] = None,
) -> List[T0Task]:
    """
    The tasks of `mixture` (`t0_train` or `t0_eval`), in the datasets' order and template-name
    order; `datasets` (folders such as `super_glue/rte`) restricts them to those datasets of it.
    `templates` are promptsource's (default: 0.2.3's, from the cached source archive,
    `promptsource_distribution`); `datasets_csv` is t-zero's `t0/datasets.csv`, read instead of
    the project's table (`mixture_datasets`); `edited_prompts` the authors'
    `all_edited_prompts.txt`, without which every task's `edited_prompt` is None.
    """
    if mixture not in MIXTURES:
        raise ConfigurationError(f"mixture must be one of {MIXTURES}, not {mixture!r}.")
    role = MIXTURE_ROLES[mixture]
    members = [row for row in mixture_datasets(datasets_csv) if row.role == role]
    if datasets is not None:
        unknown = sorted(set(datasets) - {row.folder for row in members})
        if unknown:
            raise ConfigurationError(
                f"Not datasets of {mixture}: {unknown}; its datasets are "
                f"{[row.folder for row in members]}."
            )
        members = [row for row in members if row.folder in set(datasets)]
    prompts = {} if edited_prompts is None else read_edited_prompts(edited_prompts)
    templates = default_templates() if templates is None else templates
    tasks: List[T0Task] = []
    for dataset in members:
        dataset_templates = templates.templates(dataset.folder)
        if mixture == "t0_train":
            if dataset.train_size is None:
                raise ConfigurationError(
                    f"{dataset.source}: the training dataset {dataset.folder} has no train_size."
                )
            cap = mixture_cap(dataset.train_size, len(dataset_templates))
            tasks.extend(_tasks(dataset, dataset_templates, [("", "train", "train")], cap, prompts))
        else:
            scored = [
                t for t in dataset_templates if t.original_task and t.answer_choices is not None
            ]
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
