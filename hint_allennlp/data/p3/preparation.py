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
import random
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm

from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.data.instruction_inputs import gold_choice_index
from hint_allennlp.data.p3.dataset_rows import DatasetRows, split_file
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
    What was skipped or changed, counted per task and reason, with the first places of each; and
    per task, the records written with the template's text for the hypernetwork
    (`template_prompts`).
    """

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self._places: Dict[Tuple[str, str], List[str]] = defaultdict(list)
        self.written = 0
        self.template_prompts: Counter = Counter()

    def add(self, task: str, reason: str, place: str) -> None:
        self.counts[task, reason] += 1
        if len(self._places[task, reason]) < PLACES_LISTED:
            self._places[task, reason].append(place)

    def places(self, task: str, reason: str) -> List[str]:
        return list(self._places[task, reason])

    def lines(self) -> List[str]:
        return [
            f"{task}: {count} {reason}: "
            + "; ".join(self._places[task, reason])
            + ("; ..." if count > PLACES_LISTED else "")
            for (task, reason), count in sorted(self.counts.items())
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
    if len(parts) != 2:
        raise SkippedRow(
            "rows that render to other than 'prompt ||| target' (dropped by the authors)",
            f"{len(parts)} part(s)",
        )
    prompt, target = parts
    if not prompt:
        raise SkippedRow("rows that render an empty prompt (dropped by the authors)")
    target = target or NO_LABEL
    try:
        template, fields = rendering.template_and_fields(0)
    except PromptRenderError as error:
        raise SkippedRow("rows whose prompt fields cannot be recorded", str(error)) from None
    answer_choices = rendering.answer_choices
    if answer_choices and gold_choice_index(answer_choices, [target]) is None:
        if evaluation:
            raise SkippedRow(
                "rows whose target is not one of the answer choices (cannot be scored)",
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
            raise SkippedRow("malformed rows", str(error)[len(location) + 2 :]) from None
        if self.task.dataset.name == "multi_news" and example.get("document") == "":
            raise SkippedRow("multi_news rows with an empty document (dropped by the authors)")
        rng = random.Random(f"{self._seed}/{self.task.name}/{self.split}/{index}")
        try:
            rendering = self._renderer.render(example, rng)
        except PromptRenderError as error:
            raise SkippedRow("rows the template fails on", str(error)) from None
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

    # Parameters

    tasks : `Sequence[T0Task]`
    data_dir : `Path`
        The exported splits (`dataset_rows`).
    shots : `int`, optional (default = `0`)
        Few-shot examples per record.
    seed : `int`, optional (default = `0`)
    """

    def __init__(
        self, tasks: Sequence[T0Task], data_dir: Path, shots: int = 0, seed: int = 0
    ) -> None:
        if shots < 0:
            raise ConfigurationError(f"shots must be 0 or more, not {shots}.")
        self.tasks, self.data_dir, self.shots, self.seed = list(tasks), data_dir, shots, seed
        self.report = PreparationReport()
        self._rows: Dict[Path, DatasetRows] = {}
        self._renderers: Dict[str, Optional[TemplateRenderer]] = {}

    def _open(self, task: T0Task, split: str, evaluation: bool) -> Optional[TaskRows]:
        renderer = self._renderer(task)
        if renderer is None:
            return None
        path = split_file(self.data_dir, task.dataset.folder, split)
        if path not in self._rows:
            self._rows[path] = DatasetRows(path)
        return TaskRows(task, split, self._rows[path], renderer, self.seed, evaluation)

    def _renderer(self, task: T0Task) -> Optional[TemplateRenderer]:
        """The task's renderer; a template that does not compile is reported, its task skipped."""
        if task.name not in self._renderers:
            try:
                self._renderers[task.name] = TemplateRenderer(task.template)
            except PromptTemplateError as error:
                self.report.add(
                    task.name, "templates that do not compile (task skipped)", str(error)
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
                f"rows with fewer than {self.shots} few-shot examples available",
                f"{rows.rows.location(index)} ({len(shots)})",
            )
        return shots

    def write_evaluation(self, output: Path) -> PreparationReport:
        """Every row of every task's evaluation split, in task order."""
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
                        self.report.written += 1
        return self.report

    def write_training(self, output: Path, num_examples: int) -> PreparationReport:
        """
        `num_examples` records, each task's share in proportion to its cap (`allocate`), written
        in random order. A task's rows are drawn as a shuffled stream, reshuffled each time it is
        used up: the rows that render are taken in turn (those that do not are counted once and
        passed over), so a task gets its share unless none of its rows renders.
        """
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
                    lines.add(_json(_record(rows, example_id, prepared, shots, self.report)))
                    self.report.written += 1
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
                    f"examples of its share not written: no row renders ({share - taken})",
                    str(rows.rows.path),
                )
                return
            passes += 1

    def close(self) -> None:
        for rows in self._rows.values():
            rows.close()


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


def _output_file(output: Path) -> IO[str]:
    output.parent.mkdir(parents=True, exist_ok=True)
    return open(output, "w", encoding="utf-8")


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
        self._directory = tempfile.TemporaryDirectory(dir=self._output.parent, prefix=".shuffle-")
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
