"""
Dataset rows to the `p3` reader's records for a T0 mixture (what `allennlp hint-p3-prepare` runs).

Each row is rendered as the authors' `apply_template` does (allenai/hyper-task-descriptions,
`hyper_task_descriptions/seqio_tasks/utils.py`, after bigscience-workshop/t-zero): `removeHyphen`,
then the template; a render that is not exactly `prompt ||| target`, or has an empty prompt, is
dropped; an empty target becomes `<NO LABEL>`; multi_news rows with an empty `document` are dropped
before rendering. Everything dropped is counted per task and reason, with the first places
(file and line or row), in a `PreparationReport`, which also counts the records whose
hypernetwork text is their template with every field as `[MASK]` (`edited_prompts.template_prompt`)
because the task has no edited prompt.

A record:

    {"task": "super_glue_rte_GPT_3_style", "id": "super_glue_rte_GPT_3_style/validation/0",
     "categories": ["super_glue_rte"], "template": "{{premise}}\\nQuestion: {{hypothesis}} ...",
     "fields": {"premise": "...", "hypothesis": "..."}, "target": "True",
     "answer_choices": ["True", "False"],
     "edited_prompt": "[MASK]\\nQuestion: [MASK] True or False?",
     "shots": [{"input": "...", "target": "..."}]}

`edited_prompt` is the hypernetwork's text: the task's edited prompt, or the template's.
`shots` (with `shots > 0`): that many other rows of the same template, drawn per instance from the
task's shot split, rendered alike (their `input` is the full prompt, as the authors' few-shot
examples are); the reader formats and prunes them (`few_shot`).

Randomness is seeded per row, so a run is reproducible and a row renders the same wherever it is
drawn: the template's `choice` draws from `Random("<seed>/<task>/<split>/<row>")`.
"""

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm

from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.data.instruction_inputs import gold_choice_index
from hint_allennlp.data.p3.dataset_rows import (
    ColumnMapping,
    DatasetRows,
    column_mappings,
    split_file,
)
from hint_allennlp.data.p3.edited_prompts import MASK, template_prompt
from hint_allennlp.data.p3.promptsource_templates import (
    PromptRenderError,
    PromptTemplateError,
    Rendering,
    TemplateRenderer,
)
from hint_allennlp.data.p3.t0_mixture import T0Task

logger = logging.getLogger(__name__)

NO_LABEL = "<NO LABEL>"
# Lines per temporary file when a training mixture is shuffled (each is shuffled in memory).
LINES_PER_SHUFFLE_BUCKET = 100_000
# Places listed per task and reason in the report.
PLACES_LISTED = 3
# Rows read from the start of a split before rendering, to check its columns against the templates.
SAMPLE_ROWS = 200


@dataclass(frozen=True)
class PreparedExample:
    """A row as the authors' pipeline keeps it, with the prompt's template and fields."""

    prompt: str
    target: str
    template: str
    fields: Dict[str, str]
    answer_choices: Optional[List[str]]


class SkippedRow(Exception):
    """A row that is not written: `reason` is counted, `detail` shown with its place."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


class PreparationReport:
    """
    What was skipped or changed, counted per task and reason (a past-tense phrase that follows
    "N rows", or another `noun`), with the first places of each; per task, the records written
    (`written_per_task`) and those written with the template's text for the hypernetwork
    (`template_prompts`).
    """

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self._places: Dict[Tuple[str, str, str], List[str]] = defaultdict(list)
        self.written = 0
        self.written_per_task: Counter = Counter()
        self.template_prompts: Counter = Counter()

    def add(self, task: str, reason: str, place: str, count: int = 1, noun: str = "row") -> None:
        self.counts[task, noun, reason] += count
        if len(self._places[task, noun, reason]) < PLACES_LISTED:
            self._places[task, noun, reason].append(place)

    def count(self, task: str, reason: str, noun: str = "row") -> int:
        return self.counts[task, noun, reason]

    def places(self, task: str, reason: str, noun: str = "row") -> List[str]:
        return list(self._places[task, noun, reason])

    def lines(self) -> List[str]:
        return [
            f"{task}: {count:,} {noun}{'' if count == 1 else 's'} {reason}: "
            + "; ".join(self._places[task, noun, reason])
            + ("; ..." if len(self._places[task, noun, reason]) < count else "")
            for (task, noun, reason), count in sorted(self.counts.items())
        ]

    def template_prompts_line(self) -> Optional[str]:
        """How many records have the template's text for the hypernetwork; None if none."""
        if not self.template_prompts:
            return None
        tasks = sorted(self.template_prompts)
        return (
            f"{sum(self.template_prompts.values()):,} records of {len(tasks)} task(s) have as "
            f"hypernetwork text their template with every field as {MASK} (no edited prompt): "
            + ", ".join(tasks[:PLACES_LISTED])
            + (", ..." if len(tasks) > PLACES_LISTED else "")
        )


def prepared_example(rendering: Rendering, evaluation: bool) -> PreparedExample:
    """
    The authors' rules on one rendering, then the prompt's template and fields.
    Raises `SkippedRow`.
    """
    parts = rendering.parts
    if rendering.bad_choice_indices:
        raise SkippedRow(
            "had a label that is not a number of one of the answer choices",
            f"label {rendering.bad_choice_indices[0]!r}; "
            f"{len(rendering.answer_choices or [])} answer choices",
        )
    if len(parts) != 2:
        raise SkippedRow(
            "rendered to other than 'prompt ||| target' (dropped by the authors)",
            f"{len(parts)} part(s)",
        )
    prompt, target = parts
    if not prompt:
        raise SkippedRow("rendered an empty prompt (dropped by the authors)")
    target = target or NO_LABEL
    try:
        template, fields = rendering.template_and_fields(0)
    except PromptRenderError as error:
        raise SkippedRow("had prompt fields that cannot be located", str(error)) from None
    if not fields:
        raise SkippedRow(
            "printed only empty values into the prompt (no field for the split and no_prompt modes)"
        )
    answer_choices = rendering.answer_choices
    if answer_choices and gold_choice_index(answer_choices, [target]) is None:
        if evaluation:
            raise SkippedRow(
                "had a target that is not one of the answer choices (cannot be scored)",
                repr(target),
            )
        answer_choices = None  # training reads targets only
    return PreparedExample(prompt, target, template, fields, answer_choices)


class TaskRows:
    """
    A task's template on the rows of one of its splits.

    # Parameters

    task : `T0Task`
    split : `str`
        Which of the task's splits `rows` are.
    rows : `DatasetRows`
    renderer : `TemplateRenderer`
        The task's template.
    seed : `int`
        Seeds the template's `choice` per row.
    evaluation : `bool`
        Whether the rows are scored (a target must then be one of the answer choices).
    """

    def __init__(
        self,
        task: T0Task,
        split: str,
        rows: DatasetRows,
        renderer: TemplateRenderer,
        seed: int,
        evaluation: bool,
    ) -> None:
        self.task, self.split, self.rows = task, split, rows
        self._renderer, self._seed, self._evaluation = renderer, seed, evaluation

    def __len__(self) -> int:
        return len(self.rows)

    def example_id(self, index: int) -> str:
        return f"{self.task.name}/{self.split}/{index}"

    def prepare(self, index: int) -> PreparedExample:
        """Row `index` prepared; raises `SkippedRow`."""
        try:
            example = self.rows.example(index)
        except DataFormatError as error:
            location = self.rows.location(index)
            raise SkippedRow("could not be read", str(error)[len(location) + 2 :]) from None
        lacking = sorted(name for name in self._renderer.variables if example.get(name) is None)
        if lacking:
            raise SkippedRow(
                "lacked a field that the template reads, or had it null", ", ".join(lacking)
            )
        if self.task.dataset.name == "multi_news" and example.get("document") == "":
            raise SkippedRow("had an empty document (dropped by the authors)")
        rng = random.Random(f"{self._seed}/{self.task.name}/{self.split}/{index}")
        try:
            rendering = self._renderer.render(example, rng)
        except PromptRenderError as error:
            raise SkippedRow("made the template fail", str(error)) from None
        return prepared_example(rendering, self._evaluation)

    def prepare_or_report(
        self, index: int, report: Optional[PreparationReport]
    ) -> Optional[PreparedExample]:
        try:
            return self.prepare(index)
        except SkippedRow as skipped:
            if report is not None:
                place = self.rows.location(index) + (
                    f" ({skipped.detail})" if skipped.detail else ""
                )
                report.add(self.task.name, skipped.reason, place)
            return None


class ShotSampler:
    """
    Few-shot examples for a task's instances: `k` other rows of the same template on the shot
    split, drawn without replacement per instance (seeded by the instance); rows that do not
    render are passed over.
    """

    def __init__(self, shot_rows: TaskRows, k: int, seed: int, cache_size: int = 100_000) -> None:
        self._rows, self._k, self._seed = shot_rows, k, seed
        self._shot = lru_cache(maxsize=cache_size)(self._render_shot)

    def _render_shot(self, index: int) -> Optional[Dict[str, str]]:
        prepared = self._rows.prepare_or_report(index, None)
        return None if prepared is None else {"input": prepared.prompt, "target": prepared.target}

    def draw(self, instance: TaskRows, index: int) -> List[Dict[str, str]]:
        same_split = instance.rows.path == self._rows.rows.path
        rng = random.Random(f"{self._seed}/shots/{instance.example_id(index)}")
        shots: List[Dict[str, str]] = []
        for candidate in _distinct_indices(rng, len(self._rows)):
            if same_split and candidate == index:
                continue
            shot = self._shot(candidate)
            if shot is not None:
                shots.append(shot)
                if len(shots) == self._k:
                    break
        return shots


def _distinct_indices(rng: random.Random, count: int) -> Iterator[int]:
    """Distinct indices below `count` in random order, drawn lazily."""
    seen: set = set()
    while len(seen) < count:
        if len(seen) > count // 2:  # few left: shuffle the rest instead of drawing blindly
            rest = [index for index in range(count) if index not in seen]
            rng.shuffle(rest)
            yield from rest
            return
        index = rng.randrange(count)
        if index not in seen:
            seen.add(index)
            yield index


def _record(
    rows: TaskRows,
    example_id: str,
    prepared: PreparedExample,
    shots: Optional[List[Dict[str, str]]],
    report: PreparationReport,
) -> Dict[str, Any]:
    record: Dict[str, Any] = {
        "task": rows.task.name,
        "id": example_id,
        "categories": list(rows.task.categories),
        "template": prepared.template,
        "fields": prepared.fields,
        "target": prepared.target,
    }
    if prepared.answer_choices:
        record["answer_choices"] = prepared.answer_choices
    if rows.task.edited_prompt is not None:
        record["edited_prompt"] = rows.task.edited_prompt
    else:
        record["edited_prompt"] = template_prompt(prepared.template)
        report.template_prompts[rows.task.name] += 1
    if shots is not None:
        record["shots"] = shots
    return record


class MixturePreparation:
    """
    Opens the data of a mixture's tasks and writes their records.

    Before rendering, the first `SAMPLE_ROWS` rows of each split are checked against each task's
    template: a split that is empty, whose sampled rows are all malformed, or where most sampled
    rows lack a column that the template reads (a layout other than the one promptsource 0.2.3's
    templates read, such as trec from today's `datasets`) is an error naming the file and column.

    # Parameters

    tasks : `Sequence[T0Task]`
    data_dir : `Path`
        The exported splits (`dataset_rows`).
    shots : `int`, optional (default = `0`)
        Few-shot examples per record.
    seed : `int`, optional (default = `0`)
    allow_missing : `bool`, optional (default = `False`)
        Whether an empty split skips its tasks (reported) instead of stopping the run, and an
        evaluation file may lack a whole dataset.
    column_mappings : `Dict[str, ColumnMapping]`, optional (default = `None`)
        By dataset folder: the rows of those datasets mapped to promptsource 0.2.3's layout.
    """

    def __init__(
        self,
        tasks: Sequence[T0Task],
        data_dir: Path,
        shots: int = 0,
        seed: int = 0,
        allow_missing: bool = False,
        column_mappings: Optional[Dict[str, ColumnMapping]] = None,
    ) -> None:
        if shots < 0:
            raise ConfigurationError(f"shots must be 0 or more, not {shots}.")
        self.tasks, self.data_dir, self.shots, self.seed = list(tasks), data_dir, shots, seed
        self.allow_missing = allow_missing
        self.column_mappings = column_mappings or {}
        self.report = PreparationReport()
        self._rows: Dict[Path, DatasetRows] = {}
        self._samples: Dict[Path, List[Union[Dict[str, Any], str]]] = {}
        self._renderers: Dict[str, Optional[TemplateRenderer]] = {}

    def input_files(self) -> List[Path]:
        """Every split file the tasks read (and draw few-shot examples from) that exists."""
        files = []
        for task in self.tasks:
            for split in {task.split, task.shot_split} if self.shots else {task.split}:
                try:
                    files.append(split_file(self.data_dir, task.dataset.folder, split))
                except ConfigurationError:
                    continue  # reported when the task is opened
        return files

    def _open(self, task: T0Task, split: str, evaluation: bool) -> Optional[TaskRows]:
        renderer = self._renderer(task)
        if renderer is None:
            return None
        path = split_file(self.data_dir, task.dataset.folder, split)
        if path not in self._rows:
            mapping = self.column_mappings.get(task.dataset.folder)
            self._rows[path] = DatasetRows(path, mapping)
        rows = self._rows[path]
        if len(rows) == 0:
            if not self.allow_missing:
                raise ConfigurationError(
                    f"{path} has no rows (it is empty or blank): export the split again, leave "
                    f"{task.dataset.folder} out with --datasets, or pass --allow-missing to write "
                    "the mixture without its tasks."
                )
            self.report.add(
                task.name, "was empty (task skipped, --allow-missing)", str(path), 1, "split"
            )
            return None
        self._check_columns(task, rows, renderer)
        return TaskRows(task, split, rows, renderer, self.seed, evaluation)

    def _sample(self, rows: DatasetRows) -> List[Union[Dict[str, Any], str]]:
        """The first rows of a split, each an example or the error reading it."""
        if rows.path not in self._samples:
            sample: List[Union[Dict[str, Any], str]] = []
            for index in range(min(len(rows), SAMPLE_ROWS)):
                try:
                    sample.append(rows.example(index))
                except DataFormatError as error:
                    sample.append(str(error))
            self._samples[rows.path] = sample
        return self._samples[rows.path]

    def _check_columns(self, task: T0Task, rows: DatasetRows, renderer: TemplateRenderer) -> None:
        sample = self._sample(rows)
        examples = [row for row in sample if isinstance(row, dict)]
        if not examples:
            raise ConfigurationError(
                f"{rows.path}: its first {len(sample)} rows are all malformed, the first: "
                f"{sample[0]} Export the split again with `Dataset.to_json`."
            )
        for name in sorted(renderer.variables):
            lacking = sum(example.get(name) is None for example in examples)
            if 2 * lacking > len(examples):
                columns = sorted({column for example in examples for column in example})
                raise ConfigurationError(
                    f"{rows.path}: {lacking} of its first {len(examples)} rows have no column "
                    f"{name!r} (or a null value), which the template {task.template.name!r} of "
                    f"{task.dataset.folder} reads (task {task.name}); its columns are {columns}. "
                    + _layout_hint(task.dataset.folder, columns, self.column_mappings)
                )

    def _renderer(self, task: T0Task) -> Optional[TemplateRenderer]:
        """The task's renderer; a template that does not compile is reported, its task skipped."""
        if task.name not in self._renderers:
            try:
                self._renderers[task.name] = TemplateRenderer(task.template)
            except PromptTemplateError as error:
                self.report.add(
                    task.name, "did not compile (task skipped)", str(error), 1, "template"
                )
                self._renderers[task.name] = None
        return self._renderers[task.name]

    def _sampler(self, task: T0Task) -> Optional[ShotSampler]:
        if not self.shots:
            return None
        shot_rows = self._open(task, task.shot_split, evaluation=False)
        return None if shot_rows is None else ShotSampler(shot_rows, self.shots, self.seed)

    def _shots(self, sampler: Optional[ShotSampler], rows: TaskRows, index: int) -> Optional[List]:
        if sampler is None:
            return None
        shots = sampler.draw(rows, index)
        if len(shots) < self.shots:
            self.report.add(
                rows.task.name,
                f"had fewer than {self.shots} few-shot examples available",
                f"{rows.rows.location(index)} ({len(shots)})",
            )
        return shots

    def _written(self, record: Dict[str, Any]) -> None:
        self.report.written += 1
        self.report.written_per_task[record["task"]] += 1

    def empty_tasks(self) -> List[str]:
        """The tasks with no record written."""
        return [task.name for task in self.tasks if not self.report.written_per_task[task.name]]

    def empty_datasets(self) -> List[str]:
        """The datasets (folders) with no record written."""
        written = {
            task.dataset.folder for task in self.tasks if task.name not in self.empty_tasks()
        }
        return sorted({task.dataset.folder for task in self.tasks} - written)

    def write_evaluation(self, output: Path) -> PreparationReport:
        """
        Every row of every task's evaluation split, in task order. Unless `allow_missing`, a
        dataset with no record written is an error, and `output` is left as it was.
        """
        opened = [(task, self._open(task, task.split, evaluation=True)) for task in self.tasks]
        total = sum(len(rows) for _, rows in opened if rows is not None)
        with _output_file(output) as file, Tqdm.tqdm(total=total, desc="rendering") as progress:
            for task, rows in opened:
                if rows is None:
                    continue
                sampler = self._sampler(task)
                for index in range(len(rows)):
                    progress.update(1)
                    prepared = rows.prepare_or_report(index, self.report)
                    if prepared is not None:
                        shots = self._shots(sampler, rows, index)
                        record = _record(rows, rows.example_id(index), prepared, shots, self.report)
                        _write(file, record)
                        self._written(record)
            missing = self.empty_datasets()
            if missing and not self.allow_missing:
                raise ConfigurationError(
                    f"No record of {', '.join(missing)} was written, so {output} would lack the "
                    "whole dataset (and Table 10's average leave it out); it was not written. See "
                    "the reasons below, or pass --allow-missing to write it without them.\n"
                    + "\n".join("  " + line for line in self.report.lines())
                )
        return self.report

    def write_training(self, output: Path, num_examples: int) -> PreparationReport:
        """
        `num_examples` records, each task's share in proportion to its cap (`allocate`), written
        in random order. A task's rows are drawn as a shuffled stream, reshuffled each time it is
        used up: the rows that render are taken in turn (those that do not are counted once and
        passed over), so a task gets its share unless none of its rows renders.
        """
        if num_examples <= 0:
            raise ConfigurationError(f"num_examples must be 1 or more, not {num_examples}.")
        opened = [(task, self._open(task, task.split, evaluation=False)) for task in self.tasks]
        live = [(task, rows) for task, rows in opened if rows is not None]
        shares = allocate(num_examples, [task.cap for task, _ in live])
        order = random.Random(f"{self.seed}/order")
        with (
            _ShuffledLines(output, num_examples, order) as lines,
            Tqdm.tqdm(total=num_examples, desc="rendering") as progress,
        ):
            for (task, rows), share in zip(live, shares):
                sampler = self._sampler(task)
                for example_id, index, prepared in self._draw(rows, share):
                    shots = self._shots(sampler, rows, index)
                    record = _record(rows, example_id, prepared, shots, self.report)
                    lines.add(_json(record))
                    self._written(record)
                    progress.update(1)
        return self.report

    def _draw(self, rows: TaskRows, share: int) -> Iterator[Tuple[str, int, PreparedExample]]:
        digest = hashlib.sha256(f"{self.seed}/{rows.task.name}/rows".encode()).digest()
        generator = numpy.random.default_rng(int.from_bytes(digest[:8], "little"))
        taken, passes = 0, 0
        while taken < share:
            taken_this_pass = 0
            for index in generator.permutation(len(rows)).tolist():
                prepared = rows.prepare_or_report(index, self.report if passes == 0 else None)
                if prepared is None:
                    continue
                suffix = f"/pass{passes}" if passes else ""
                yield rows.example_id(index) + suffix, index, prepared
                taken, taken_this_pass = taken + 1, taken_this_pass + 1
                if taken == share:
                    return
            if taken_this_pass == 0:
                self.report.add(
                    rows.task.name,
                    "of its share could not be written, as none of its rows renders",
                    str(rows.rows.path),
                    share - taken,
                    "example",
                )
                return
            passes += 1

    def close(self) -> None:
        for rows in self._rows.values():
            rows.close()


def _layout_hint(folder: str, columns: Sequence[str], mappings: Dict[str, ColumnMapping]) -> str:
    """What to do about a split without a column its templates read."""
    known = column_mappings().get(folder)
    if known is not None and set(known.columns) <= set(columns) and folder not in mappings:
        renamed = ", ".join(f"{new} -> {old}" for new, old in known.columns.items())
        return (
            f"This is {folder} in the layout of `datasets` 2.5 and later; pass --map-columns "
            f"{folder} to map it to promptsource 0.2.3's ({renamed}, labels renumbered by name; "
            "docs/p3.md), or export it with `datasets` 2.4 or older."
        )
    return (
        "Export the split with the dataset's own columns (`Dataset.to_json`), or leave the dataset "
        "out with --datasets."
    )


def allocate(num_examples: int, caps: Sequence[int]) -> List[int]:
    """
    `num_examples` split in proportion to `caps` (largest remainders, ties to the earlier task):
    seqio samples a mixture's tasks at these rates; a prepared file holds the expected counts.
    """
    total = sum(caps)
    if total <= 0:
        raise ConfigurationError("The mixture's caps sum to 0: there is nothing to sample.")
    shares = [num_examples * cap // total for cap in caps]
    remainders = [num_examples * cap % total for cap in caps]
    by_remainder = sorted(range(len(caps)), key=lambda position: -remainders[position])
    for position in by_remainder[: num_examples - sum(shares)]:
        shares[position] += 1
    return shares


def _json(record: Dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def _write(file: IO[str], record: Dict[str, Any]) -> None:
    file.write(_json(record))


@contextmanager
def _output_file(output: Path) -> Iterator[IO[str]]:
    """
    A file to write `output` through: a temporary file beside it, moved into place when the
    writing ends without an exception (an interrupted run leaves an earlier output as it was).
    Temporary files that an earlier, killed run left are removed first, with a message.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(output, _partial_prefix(output))
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=_partial_prefix(output))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            yield file
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _partial_prefix(output: Path) -> str:
    return f".{output.name}.partial-"


def _shuffle_prefix(output: Path) -> str:
    return f".{output.name}.shuffle-"


def _remove_stale(output: Path, prefix: str) -> None:
    """Remove what a killed run writing `output` left beside it (`prefix*`), and say so."""
    for stale in sorted(output.parent.glob(prefix + "*")):
        size = (
            sum(f.stat().st_size for f in stale.rglob("*") if f.is_file())
            if stale.is_dir()
            else stale.stat().st_size
        )
        message = (
            f"Removed {stale} ({size / 1e6:,.1f} MB), left by an earlier run writing {output} "
            "that was killed."
        )
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
        print(message)
        logger.warning(message)


class _ShuffledLines:
    """
    Writes lines to `output` in a uniformly random order without holding them all: each line goes
    to a random temporary bucket, then every bucket is shuffled in memory and appended.
    """

    def __init__(self, output: Path, expected_lines: int, rng: random.Random) -> None:
        self._output, self._rng = output, rng
        self._buckets_count = max(1, -(-expected_lines // LINES_PER_SHUFFLE_BUCKET))

    def __enter__(self) -> "_ShuffledLines":
        self._output.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(self._output, _shuffle_prefix(self._output))
        self._directory = tempfile.TemporaryDirectory(
            dir=self._output.parent, prefix=_shuffle_prefix(self._output)
        )
        self._buckets = [
            open(Path(self._directory.name) / f"{number}.jsonl", "w+", encoding="utf-8")
            for number in range(self._buckets_count)
        ]
        return self

    def add(self, line: str) -> None:
        self._buckets[self._rng.randrange(self._buckets_count)].write(line)

    def __exit__(self, exception_type: Any, *_: Any) -> None:
        try:
            if exception_type is None:
                with _output_file(self._output) as output:
                    for bucket in self._buckets:
                        bucket.seek(0)
                        lines = bucket.readlines()
                        self._rng.shuffle(lines)
                        output.writelines(lines)
        finally:
            for bucket in self._buckets:
                bucket.close()
            self._directory.cleanup()
