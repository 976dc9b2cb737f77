"""
The instruction inputs that the readers, the `hint_instruction` predictor and
`allennlp hint-compile` accept, parsed and checked here once (the formats: `docs/readers.md`).
Every fault is a `DataFormatError` whose message starts with where it is (the file, and the line
or the instance) and names the field.

- An SNI task: a Super-NaturalInstructions task object (`load_sni_task` reads a task file,
  `sni_task_from_record` checks a parsed object), and each of its `Instances`
  (`sni_instance_from_record`).
- An instruction-JSON record, `{"instruction", "input", ...}`: a line of the `instruction_jsonl`
  format (`instruction_example_from_record`), a prediction request
  (`prediction_request_from_record`), or a task to compile (`read_task_instructions`).

Data to train or evaluate on must have outputs, and its ids and task names must be strings. A
prediction request needs no outputs and gets its `id` back as given, whatever JSON value it is.
"""

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from hint_allennlp.data.file_reading import (
    DataFormatError,
    decode_utf8,
    expand_file_path,
    get_string,
    get_string_list,
    iter_nonblank_lines,
    parse_json_line,
    read_json_file,
)
from hint_allennlp.data.tk_format import Demonstration, read_demonstrations

logger = logging.getLogger(__name__)

# What `allennlp hint-compile` reads tasks from: SNI task files, JSON lines of tasks with their
# instruction, and text lines `task<TAB>instruction`.
TASK_FILE_SUFFIXES = (".json", ".jsonl", ".txt")

LANGUAGE_KEYS = ("Input_language", "Output_language", "Instruction_language")


@dataclass(frozen=True)
class TaskInstruction:
    """
    What the hypernetwork reads of a task: its definition (SNI's `Definition`, or an instruction
    record's `instruction`), its categories and its demonstrations.
    """

    definition: str
    categories: List[str] = field(default_factory=list)
    positive_examples: List[Demonstration] = field(default_factory=list)
    negative_examples: List[Demonstration] = field(default_factory=list)

    def reader_arguments(self) -> Dict[str, Any]:
        """The keyword arguments of a reader's `text_to_instance` that give this instruction."""
        return {
            "instruction": self.definition,
            "categories": self.categories,
            "positive_examples": self.positive_examples,
            "negative_examples": self.negative_examples,
        }

    def to_json(self) -> Dict[str, Any]:
        """The JSON-safe form that compiled-task files store (`from_json` reads it back)."""
        return {
            "instruction": self.definition,
            "categories": list(self.categories),
            "positive_examples": [asdict(example) for example in self.positive_examples],
            "negative_examples": [asdict(example) for example in self.negative_examples],
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> "TaskInstruction":
        # What `to_json` wrote (a missing explanation is null there), or what files compiled from
        # instruction JSON lines or text by earlier versions hold: "instruction" and at most
        # "positive_examples".
        return cls(
            definition=stored["instruction"],
            categories=list(stored.get("categories") or []),
            positive_examples=[
                Demonstration(**example) for example in stored.get("positive_examples") or []
            ],
            negative_examples=[
                Demonstration(**example) for example in stored.get("negative_examples") or []
            ],
        )


# --- SNI tasks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SniTask:
    """One SNI task object, checked; its instances are checked one at a time when used."""

    name: str
    location: str  # where errors say the task is: its file, or the predictor input's line
    instruction: TaskInstruction
    is_english: bool
    instances: List[Any]


@dataclass(frozen=True)
class SniInstance:
    """One of an SNI task's `Instances`, checked."""

    input: str
    references: List[str]  # empty for `"output": []`, or a prediction request without outputs
    id: Any  # a string or None; in a prediction request, the JSON value given


def is_sni_task(record: Any) -> bool:
    """
    Meant as an SNI task object, not an instruction record: it has `Definition` or `Instances`
    and no `input` (which an instruction record always has), so that a task object lacking one of
    the two is refused by `sni_task_from_record` naming the missing key.
    """
    return (
        isinstance(record, dict)
        and ("Definition" in record or "Instances" in record)
        and "input" not in record
    )


def repeated_ids_message(task: SniTask) -> Optional[str]:
    """
    A warning when instances of the task share an id (predictions and per-instance results are
    told apart by id), with how many repeat an earlier instance's id; None when all differ.
    """
    counts = Counter(
        json.dumps(entry["id"], sort_keys=True)
        for entry in task.instances
        if isinstance(entry, dict) and entry.get("id") is not None
    )
    repeats = {key: count for key, count in counts.items() if count > 1}
    if not repeats:
        return None
    example, count = next(iter(repeats.items()))
    return (
        f"{task.location}: instances with the id of an earlier instance of the task: "
        f"{sum(repeats.values()) - len(repeats)} (e.g. {example} is the id of {count}); ids "
        "should be unique."
    )


def sni_task_name(path: Path) -> str:
    """A task's name is its file's name without `.json`."""
    return path.name[: -len(".json")] if path.name.endswith(".json") else path.name


def load_sni_task(path: Path) -> SniTask:
    return sni_task_from_record(read_json_file(path), sni_task_name(path), str(path))


def sni_task_from_record(record: Any, name: str, location: str) -> SniTask:
    """Checks a parsed SNI task object; `location` starts every error message."""
    if not isinstance(record, dict):
        raise DataFormatError(
            f"{location}: expected a JSON object (an SNI task), found {type(record).__name__}."
        )
    if "Definition" not in record:
        raise DataFormatError(f"{location}: missing key 'Definition'.")
    definition = record["Definition"]
    # SNI stores the definition as a list of strings, nearly always one; of several (e.g. task288)
    # Tk-Instruct's collator uses the first.
    if isinstance(definition, list) and definition:
        definition = definition[0]
    if not isinstance(definition, str):
        raise DataFormatError(
            f"{location}: 'Definition' must be a string or a non-empty list of strings."
        )
    if not definition.strip():
        raise DataFormatError(f"{location}: 'Definition' is empty.")
    if "Instances" not in record:
        raise DataFormatError(f"{location}: missing key 'Instances'.")
    if not isinstance(record["Instances"], list):
        raise DataFormatError(f"{location}: 'Instances' must be a list.")
    positive_examples = read_demonstrations(record, "Positive Examples", location)
    negative_examples = read_demonstrations(record, "Negative Examples", location)
    languages = [set(get_string_list(record, key, location)) for key in LANGUAGE_KEYS]
    return SniTask(
        name=name,
        location=location,
        instruction=TaskInstruction(
            definition=definition,
            categories=get_string_list(record, "Categories", location),
            positive_examples=positive_examples,
            negative_examples=negative_examples,
        ),
        is_english=all(language_set == {"English"} for language_set in languages),
        instances=record["Instances"],
    )


def sni_instance_from_record(record: Any, location: str, *, request: bool = False) -> SniInstance:
    """
    Checks one of an SNI task's `Instances`: a string `input`, an `output` (a string or a list of
    strings: the references) and an optional string `id`. In a prediction `request` the output may
    be left out (absent, null or empty: no references) and the id may be any JSON value.
    """
    if not isinstance(record, dict):
        raise DataFormatError(
            f"{location}: an instance must be a JSON object, found {type(record).__name__}."
        )
    instance_input: str = get_string(record, "input", location)  # type: ignore[assignment]
    if request:
        references = _references(record, location) if record.get("output") else []
        return SniInstance(instance_input, references, record.get("id"))
    if "output" not in record:
        raise DataFormatError(f"{location}: missing key 'output'.")
    references = _references(record, location)
    return SniInstance(
        instance_input, references, get_string(record, "id", location, required=False)
    )


def _references(record: Mapping[str, Any], location: str) -> List[str]:
    """An SNI instance's `output`: a string, or a list of strings."""
    output = record["output"]
    if isinstance(output, str):
        return [output]
    if not isinstance(output, list) or not all(isinstance(reference, str) for reference in output):
        raise DataFormatError(f"{location}: 'output' must be a list of strings.")
    return output


# --- Instruction-JSON records ----------------------------------------------------------------


@dataclass(frozen=True)
class InstructionExample:
    """A line of the `instruction_jsonl` format: a task's instruction, one input and its outputs."""

    task: str
    instruction: TaskInstruction
    input: str
    references: List[str]
    answer_choices: Optional[List[str]]
    id: Optional[str]


@dataclass(frozen=True)
class PredictionRequest:
    """An instruction record to predict for: `{"instruction"?, "input", "task"?, "id"?, ...}`."""

    task: str
    input: str
    instruction: Optional[TaskInstruction]  # None: the request names a compiled task instead
    id: Any  # the JSON value given, echoed back with the prediction


def gold_choice_index(answer_choices: Sequence[str], references: Sequence[str]) -> Optional[int]:
    """Index of the first answer choice equal (up to surrounding whitespace) to a reference."""
    stripped_references = {reference.strip() for reference in references}
    for index, choice in enumerate(answer_choices):
        if choice.strip() in stripped_references:
            return index
    return None


def instruction_text(record: Mapping[str, Any], location: str) -> str:
    """An instruction record's `instruction`: a string that is not only whitespace."""
    instruction: str = get_string(record, "instruction", location)  # type: ignore[assignment]
    if not instruction.strip():
        raise DataFormatError(f"{location}: 'instruction' is empty.")
    return instruction


def instruction_example_from_record(
    record: Mapping[str, Any], location: str, default_task: str
) -> InstructionExample:
    """
    Checks a line of the `instruction_jsonl` format (parsed; an object). Required: `instruction`,
    `input`, and one of `output` (a string) and `outputs` (a non-empty list of strings). Optional:
    `task` (else `default_task`), `id`, `categories`, `positive_examples`, `negative_examples`,
    `answer_choices` (one of them must be an output). Other keys are not read.
    """
    instruction = instruction_text(record, location)
    references = _instruction_references(record, location)
    answer_choices: Optional[List[str]] = None
    if "answer_choices" in record:
        answer_choices = get_string_list(record, "answer_choices", location)
        if gold_choice_index(answer_choices, references) is None:
            raise DataFormatError(f"{location}: no output is one of the answer_choices.")
    positive_examples = read_demonstrations(record, "positive_examples", location)
    negative_examples = read_demonstrations(record, "negative_examples", location)
    instance_input: str = get_string(record, "input", location)  # type: ignore[assignment]
    return InstructionExample(
        task=get_string(record, "task", location, required=False) or default_task,
        instruction=TaskInstruction(
            definition=instruction,
            categories=get_string_list(record, "categories", location),
            positive_examples=positive_examples,
            negative_examples=negative_examples,
        ),
        input=instance_input,
        references=references,
        answer_choices=answer_choices,
        id=get_string(record, "id", location, required=False),
    )


def _instruction_references(record: Mapping[str, Any], location: str) -> List[str]:
    if "output" not in record and "outputs" not in record:
        raise DataFormatError(f"{location}: missing key 'output' (or 'outputs', a list).")
    if "output" in record and "outputs" in record:
        raise DataFormatError(f"{location}: give only one of 'output' and 'outputs'.")
    if "output" in record:
        return [get_string(record, "output", location)]  # type: ignore[list-item]
    outputs = get_string_list(record, "outputs", location)
    if not outputs:
        raise DataFormatError(f"{location}: 'outputs' is empty.")
    return outputs


def request_instruction(record: Mapping[str, Any], location: str) -> TaskInstruction:
    """
    The instruction of a prediction request or of a task to compile: `instruction` and optional
    `positive_examples` (its other keys, `categories` and `negative_examples` included, are not
    read), so that a task compiled from a record is the task a request with that record predicts.
    """
    return TaskInstruction(
        definition=instruction_text(record, location),
        positive_examples=read_demonstrations(record, "positive_examples", location),
    )


def requested_task(record: Mapping[str, Any], location: str) -> Optional[str]:
    """A prediction request's `task`: a string; None when absent or null."""
    return None if record.get("task") is None else get_string(record, "task", location)


def prediction_request_from_record(record: Mapping[str, Any], location: str) -> PredictionRequest:
    """
    Checks a prediction request (parsed; an object): a string `input`, optional `task` and `id`,
    and either an instruction (`request_instruction`) or no `instruction` key (a compiled task).
    """
    task = requested_task(record, location) or ""
    instance_input: str = get_string(record, "input", location)  # type: ignore[assignment]
    instruction = request_instruction(record, location) if "instruction" in record else None
    return PredictionRequest(task, instance_input, instruction, record.get("id"))


# --- Tasks to compile ------------------------------------------------------------------------


def read_task_instructions(location: str) -> Iterator[Tuple[str, TaskInstruction]]:
    """
    The tasks that `allennlp hint-compile` reads, each with its instruction: from SNI task files
    (a file or glob), from JSON lines with a non-empty string `task` and an instruction
    (`request_instruction`), from text lines `task<TAB>instruction`, or from a directory of such
    files (`_tasks_to_compile`). Blank lines are skipped.
    A task named again with the same instruction is read once; with another instruction it is
    refused, naming both places (each task compiles to one file, `<task>.hint.pt`).
    """
    first_seen: Dict[str, Tuple[TaskInstruction, str]] = {}
    for task, instruction, task_location in _tasks_to_compile(location):
        if task in first_seen:
            first_instruction, first_location = first_seen[task]
            if instruction != first_instruction:
                raise DataFormatError(
                    f"{task_location}: task {task!r} has another instruction at {first_location}; "
                    "a task has one instruction (rename one of them)."
                )
            continue
        first_seen[task] = (instruction, task_location)
        yield task, instruction


def _tasks_to_compile(location: str) -> Iterator[Tuple[str, TaskInstruction, str]]:
    """
    `(task, instruction, where it is)` for every task of `read_task_instructions`'s input. A
    directory's `.json` (SNI task), `.jsonl` and `.txt` files are all read; any other file in it
    is named in a warning, so that no task is skipped without a word.
    """
    path = Path(location)
    if path.is_dir():
        files = sorted(child for child in path.iterdir() if child.is_file())
        skipped = [child.name for child in files if child.suffix not in TASK_FILE_SUFFIXES]
        if skipped:
            logger.warning(
                "%s: %d file(s) skipped, not task files (%s): %s",
                path,
                len(skipped),
                ", ".join(TASK_FILE_SUFFIXES),
                skipped,
            )
        for child in files:
            if child.suffix in TASK_FILE_SUFFIXES:
                yield from _tasks_to_compile(str(child))
        return
    if path.suffix in (".jsonl", ".txt") and path.is_file():
        for _, line_number, raw_line in iter_nonblank_lines([path]):
            line_location = f"{path}, line {line_number}"
            if path.suffix == ".txt":
                task, instruction = _tab_separated_task(
                    decode_utf8(raw_line, line_location), line_location
                )
            else:
                record = parse_json_line(raw_line, path, line_number)
                task = _task_to_compile(record, line_location)
                instruction = request_instruction(record, line_location)
            yield task, instruction, line_location
        return
    for task_path in expand_file_path(location, suffixes=(".json",)):
        sni_task = load_sni_task(task_path)
        yield sni_task.name, sni_task.instruction, sni_task.location


def _task_to_compile(record: Mapping[str, Any], location: str) -> str:
    task: str = get_string(record, "task", location)  # type: ignore[assignment]
    if not task:
        raise DataFormatError(f"{location}: 'task' is empty.")
    return task


def _tab_separated_task(line: str, location: str) -> Tuple[str, TaskInstruction]:
    task, separator, text = line.partition("\t")
    if not separator or not task.strip() or not text.strip():
        raise DataFormatError(f"{location}: expected 'task<TAB>instruction'.")
    return task.strip(), TaskInstruction(definition=text.strip())
