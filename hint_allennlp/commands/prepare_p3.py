"""
`allennlp hint-p3-prepare --mixture t0_train|t0_eval --data-dir DIR --output FILE`: renders the T0
datasets, exported from HF `datasets` into DIR, with promptsource 0.2.3's templates into the `p3`
reader's records (`hint_allennlp.data.p3`): the training mixture sampled by the T0 caps and
shuffled, or every held-out task's validation split. `--list-tasks` prints the mixture's tasks and
caps without reading data. `--edited-prompts` is the authors' `all_edited_prompts.txt` (from a clone
of allenai/hyper-task-descriptions); without it the hypernetwork's text is each record's template
with every field as `[MASK]`. `--datasets-csv` is t-zero's `t0/datasets.csv`, read instead of this
project's table of T0's datasets and checked against it.
"""

import argparse
import logging
from pathlib import Path
from typing import Optional, Sequence

from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.p3.dataset_rows import column_mappings as known_column_mappings
from hint_allennlp.data.p3.edited_prompts import MASK
from hint_allennlp.data.p3.preparation import MixturePreparation
from hint_allennlp.data.p3.promptsource_distribution import (
    PROMPTSOURCE_VERSION,
    PromptsourceTemplates,
    fetch_sdist,
)
from hint_allennlp.data.p3.t0_mixture import MIXTURES, T0Task, mixture_tasks, total_cap

logger = logging.getLogger(__name__)


@Subcommand.register("hint-p3-prepare")
class PrepareP3(Subcommand):
    # Everything it needs is imported by this module: AllenNLP's second walk over the plugins
    # (seconds, on every run) is not needed.
    requires_plugins = False

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Render T0's training mixture or held-out evaluation from exported datasets into the "
            "p3 reader's JSON lines."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument(
            "--fetch-templates",
            action="store_true",
            help=f"download promptsource {PROMPTSOURCE_VERSION}'s source archive (its templates) "
            "into the cache, checking its SHA-256, and exit; done already by `make templates`",
        )
        subparser.add_argument("--mixture", choices=MIXTURES)
        subparser.add_argument(
            "--data-dir",
            type=Path,
            help="the exported splits: DIR/<dataset>[/<subset>]/<split>.jsonl or .parquet",
        )
        subparser.add_argument("--output", type=Path, help="the JSON-lines file to write")
        subparser.add_argument(
            "--num-examples",
            type=int,
            help="t0_train: how many examples to write (optimizer steps x examples per step)",
        )
        subparser.add_argument("--shots", type=int, default=0, help="few-shot examples per record")
        subparser.add_argument("--seed", type=int, default=0)
        subparser.add_argument(
            "--datasets",
            nargs="+",
            metavar="DATASET",
            help="only these datasets of the mixture, as folders: super_glue/rte, anli, ...",
        )
        subparser.add_argument(
            "--list-tasks",
            action="store_true",
            help="print the mixture's tasks, splits and caps and Σ cap, without reading data",
        )
        subparser.add_argument(
            "--templates",
            type=Path,
            help="promptsource's templates: its source archive (.tar.gz), an unpacked promptsource "
            "or its promptsource/templates/ folder (default: promptsource "
            f"{PROMPTSOURCE_VERSION}'s archive, fetched by --fetch-templates)",
        )
        subparser.add_argument(
            "--allow-missing",
            action="store_true",
            help="write the mixture even if a split is empty or no record of a dataset is written "
            "(each is reported by name)",
        )
        subparser.add_argument(
            "--map-columns",
            nargs="+",
            default=[],
            metavar="DATASET",
            help="map these datasets from the column layout of today's `datasets` to the one "
            "promptsource 0.2.3's templates read (known: trec; docs/p3.md)",
        )
        subparser.add_argument(
            "--datasets-csv",
            type=Path,
            help="t-zero's t0/datasets.csv, read instead of this project's table of T0's datasets "
            "(differences are logged)",
        )
        subparser.add_argument(
            "--edited-prompts",
            type=Path,
            help="the authors' hand-edited hypernetwork prompts: "
            "hyper_task_descriptions/seqio_tasks/all_edited_prompts.txt of a clone of "
            f"allenai/hyper-task-descriptions (default: each template with its fields as {MASK})",
        )
        subparser.set_defaults(func=prepare_p3_from_args)
        return subparser


def prepare_p3_from_args(args: argparse.Namespace) -> None:
    if args.fetch_templates:
        print(f"promptsource {PROMPTSOURCE_VERSION}'s templates: {fetch_sdist()}")
        return
    if args.mixture is None:
        raise ConfigurationError(f"--mixture is needed: one of {', '.join(MIXTURES)}.")
    for option, path in [
        ("--templates", args.templates),
        ("--datasets-csv", args.datasets_csv),
        ("--edited-prompts", args.edited_prompts),
    ]:
        if path is not None and not path.exists():
            raise ConfigurationError(f"{option} {path} does not exist.")
    templates = None if args.templates is None else PromptsourceTemplates(args.templates)
    tasks = mixture_tasks(
        args.mixture, args.datasets, templates, args.datasets_csv, args.edited_prompts
    )
    datasets_count = len({task.dataset.folder for task in tasks})
    if args.list_tasks:
        for task in tasks:
            print(f"{task.name}\t{task.dataset.folder}/{task.split}\t{task.cap}")
        cap = f"; Σ cap = {total_cap(tasks):,}" if args.mixture == "t0_train" else ""
        print(f"{_count(len(tasks), 'task')} of {_count(datasets_count, 'dataset')}{cap}")
        return
    if args.data_dir is None or args.output is None:
        raise ConfigurationError("--data-dir and --output are needed (or --list-tasks).")
    _check_num_examples(args.mixture, args.num_examples)
    _check_output(args.output)
    mappings = known_column_mappings()
    unknown = sorted(set(args.map_columns) - set(mappings))
    if unknown:
        raise ConfigurationError(
            f"--map-columns {' '.join(unknown)}: no known mapping; known: {sorted(mappings)}."
        )
    _warn_of_template_prompts(tasks, args.edited_prompts)
    preparation = MixturePreparation(
        tasks,
        args.data_dir,
        args.shots,
        args.seed,
        allow_missing=args.allow_missing,
        column_mappings={folder: mappings[folder] for folder in args.map_columns},
    )
    inputs = preparation.input_files() + [
        path for path in (args.templates, args.datasets_csv, args.edited_prompts) if path
    ]
    for path in inputs:
        if args.output.exists() and path.exists() and args.output.samefile(path):
            raise ConfigurationError(
                f"--output {args.output} is also an input ({path}): writing it would empty it "
                "before it is read. Give another --output."
            )
    try:
        if args.mixture == "t0_train":
            report = preparation.write_training(args.output, args.num_examples)
        else:
            report = preparation.write_evaluation(args.output)
    finally:
        preparation.close()
    print(
        f"{_count(report.written, 'record')} of {_count(len(tasks), 'task')} "
        f"({_count(datasets_count, 'dataset')}) written "
        f"to {args.output}."
    )
    template_prompts = report.template_prompts_line()
    if template_prompts:
        print(template_prompts)
    for what, names in [
        ("dataset", preparation.empty_datasets()),
        ("task", preparation.empty_tasks()),
    ]:
        if names:
            line = f"No record was written of {_count(len(names), what)}: " + ", ".join(names)
            print(line)
            logger.warning(line)
    if report.counts:
        print("Not written or changed, per task (with the first places):")
        for line in report.lines():
            print("  " + line)
            logger.warning(line)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _check_num_examples(mixture: str, num_examples: Optional[int]) -> None:
    if mixture == "t0_train" and num_examples is None:
        raise ConfigurationError("t0_train needs --num-examples (optimizer steps x batch size).")
    if mixture == "t0_train" and num_examples <= 0:
        raise ConfigurationError(f"--num-examples must be 1 or more, not {num_examples}.")
    if mixture == "t0_eval" and num_examples is not None:
        raise ConfigurationError(
            "--num-examples is for t0_train: t0_eval writes every row of the evaluation splits."
        )


def _check_output(output: Path) -> None:
    """An --output that cannot be written is refused before anything is read."""
    if output.is_dir():
        raise ConfigurationError(
            f"--output {output} is a folder; give the JSON-lines file to write."
        )
    for parent in output.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigurationError(
                    f"--output {output} cannot be written: {parent} is a file, not a folder."
                )
            break


def _warn_of_template_prompts(tasks: Sequence[T0Task], edited_prompts: Optional[Path]) -> None:
    """One warning for the tasks whose hypernetwork text will be their template's."""
    if edited_prompts is None:
        logger.warning(
            "No --edited-prompts: the hypernetwork's text of every record is its template with "
            "every field as %s, not the authors' hand-edited prompt. For the authors' prompts, "
            "pass --edited-prompts hyper_task_descriptions/seqio_tasks/all_edited_prompts.txt of "
            "a clone of allenai/hyper-task-descriptions.",
            MASK,
        )
        return
    missing = [task.name for task in tasks if task.edited_prompt is None]
    if missing:
        logger.warning(
            "%s has no edited prompt for %d of the %d tasks, whose hypernetwork text is their "
            "template with every field as %s: %s",
            edited_prompts,
            len(missing),
            len(tasks),
            MASK,
            ", ".join(missing),
        )
