import glob
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor

from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.data.instruction_inputs import (
    TaskInstruction,
    is_sni_task,
    prediction_request_from_record,
    repeated_ids_message,
    requested_task,
    sni_instance_from_record,
    sni_task_from_record,
    sni_task_name,
)
from hint_allennlp.modules.serving.compiled_task import (
    COMPILED_TASK_SUFFIX,
    CompiledTask,
    model_fingerprint,
)
from hint_allennlp.predictors.json_input import json_input_items

logger = logging.getLogger(__name__)


@Predictor.register("hint_instruction")
class HintInstructionPredictor(Predictor):
    """
    Predicts for instruction-following inputs, one JSON line out per example. `allennlp predict`
    hands it its whole input (`read_json_input`); each line (or each JSON object spread over
    several lines) is:

    - `{"instruction": str, "input": str, "task"?: str, "id"?: any, "positive_examples"?: [...]}`;
    - `{"task": str, "input": str}` for a task loaded from `compiled_tasks`;
    - a Super-NaturalInstructions task object (`Definition`, `Instances`, ...), as in an SNI task
      file, pretty-printed or not: every instance is predicted.

    Each is checked by `hint_allennlp.data.instruction_inputs` (`prediction_request_from_record`,
    `sni_task_from_record`, `sni_instance_from_record` with `request=True`).

    Output lines: `{"line", "task", "id", "input", "prediction"}`, plus `"instance"` (its index)
    for an instance of an SNI task object and `"references"` when known; `line` is the physical
    line the input starts on (null for `--use-dataset-reader`, whose instances come from the
    reader). A line that cannot be used gives `{"line", "error"}` (an instance of an SNI task:
    `{"line", "task", "instance", "error"}`) and the other lines are still predicted: every input
    line or task instance gives exactly one output line, and each instance is predicted alone,
    whatever the others are (with or without `output`). Once the whole input is predicted, a
    summary is logged (lines read, lines predicted and failed); an input with nothing to predict
    is refused. Tasks repeat cheaply: the model keeps the generated modules of recent instructions
    (its task cache), and compiled tasks never run the hypernetwork.

    # Parameters

    model : `Model`
    dataset_reader : `DatasetReader`
        A reader with `text_to_instance(instruction, input, ...)`: `sni` or `instruction_jsonl`.
    frozen : `bool`, optional (default = `True`)
    compiled_tasks : `List[str]`, optional (default = `None`)
        Files written by `allennlp hint-compile`, or directories or globs of them. A file compiled
        from another model is refused, and so are compiled tasks for a model that compiles nothing
        (one that reads the instruction inside its input).
    cache_size : `int`, optional (default = `None`)
        Overrides the model's `task_cache_size` (0 turns the cache off; a negative size is
        refused).
    batch_size : `int`, optional (default = `32`)
        Batch size for the instances of an SNI task object.
    fail_on_error : `bool`, optional (default = `False`)
        After writing every output line, raise a `DataFormatError` (`allennlp predict` exits with
        a non-zero status) when any of them is an error.
    """

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        compiled_tasks: Optional[Union[str, List[str]]] = None,
        cache_size: Optional[int] = None,
        batch_size: int = 32,
        fail_on_error: bool = False,
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        if not hasattr(dataset_reader, "text_to_instance") or not hasattr(
            dataset_reader, "_instruction_format"
        ):
            raise ConfigurationError(
                "hint_instruction needs an 'sni' or 'instruction_jsonl' dataset reader"
            )
        if cache_size is not None:
            if cache_size < 0:
                raise ConfigurationError(
                    f"cache_size must be 0 (no task cache) or more instructions, not {cache_size} "
                    "(--predictor-args)."
                )
            model.task_cache.max_size = cache_size
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, not {batch_size}")
        self._batch_size = batch_size
        self._fail_on_error = fail_on_error
        self._compiled_instructions: Dict[str, TaskInstruction] = {}
        self._line_number = 0
        self._instance_count = 0
        # Of the input being read: "lines", "inputs" (JSON values), "predicted" and "failed".
        self._summary: Counter = Counter()
        if compiled_tasks:
            self._load_compiled_tasks(
                [compiled_tasks] if isinstance(compiled_tasks, str) else compiled_tasks
            )

    def _load_compiled_tasks(self, locations: List[str]) -> None:
        if not getattr(self._model, "compiles_instructions", False):
            raise ConfigurationError(
                f"compiled_tasks {locations}: this model ({type(self._model).__name__} reading "
                "the instruction inside its input, as Tk-Instruct and No-Instruct do) keeps "
                "nothing per instruction, so it has nothing to compile and serves no compiled "
                "task: leave out compiled_tasks and give each input line its 'instruction'."
            )
        fingerprint = model_fingerprint(self._model)
        for path in _compiled_task_paths(locations):
            compiled = CompiledTask.load(path, fingerprint)
            self._model.task_cache.pin(compiled.key, compiled.parameters)
            self._compiled_instructions[compiled.task] = TaskInstruction.from_json(
                compiled.instruction
            )
            logger.info("Loaded compiled task %s from %s", compiled.task, path)

    def load_line(self, line: str) -> JsonDict:
        """
        One input line on its own (AllenNLP's line-by-line API); `allennlp predict` uses
        `read_json_input`.
        """
        self._line_number += 1
        items = list(json_input_items([line.encode("utf-8")]))
        item = items[0] if items else {"error": "a blank line"}
        return {**item, "line": self._line_number}

    def read_json_input(self, raw_lines: Iterable[bytes], source: str) -> Iterator[JsonDict]:
        """
        The items of a whole input (`source` names it: a file, or "-" for stdin), one per JSON value
        with the physical line it starts on (`json_input_items`), so that no line is skipped, merged
        or lost. With `json_input.open_input(path)` for `raw_lines`, then `predict_batch_json` on
        the items and `report_input(path)` at the end, any caller reads an input file as `allennlp
        predict` does (which `hint_allennlp.commands.guards` has call these).
        """
        self._dataset_reader.reset_counts()
        self._instance_count = 0
        self._summary.clear()

        def counted(lines: Iterable[bytes]) -> Iterator[bytes]:
            for raw_line in lines:
                self._summary["lines"] += 1
                yield raw_line

        for item in json_input_items(counted(raw_lines)):
            yield {**item, "source": source}

    def report_input(self, source: str) -> None:
        """
        Once the whole input is predicted (after `read_json_input`): logs what the reader shortened
        or left out and the summary of the input; refuses an input with nothing to predict, and
        with `fail_on_error`, one that gave error lines.
        """
        self._dataset_reader.log_counts(source, self._instance_count)
        lines, inputs = self._summary["lines"], self._summary["inputs"]
        predicted, failed = self._summary["predicted"], self._summary["failed"]
        if inputs == 0:
            raise DataFormatError(
                f"{source}: nothing to predict: "
                + (f"its {lines} lines are blank." if lines else "the input is empty.")
            )
        (logger.warning if failed else logger.info)(
            "%s: %d input lines read; %d output lines predicted, %d failed "
            '(lines with an "error").',
            source,
            lines,
            predicted,
            failed,
        )
        if failed and self._fail_on_error:
            raise DataFormatError(
                f"{source}: {failed} of {predicted + failed} output lines failed (the predictor's "
                'fail_on_error is set); each has an "error" naming its input line.'
            )

    def dump_line(self, outputs: JsonDict) -> str:
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in outputs["lines"])

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self.predict_batch_instance([instance])[0]

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        """
        Used by `--use-dataset-reader`: each instance's output line, as `dump_line` takes it (its
        `line` is null: the reader does not say where an instance comes from).
        """
        return [{"lines": [{"line": None, **line}]} for line in self._predict_lines(instances)]

    def _predict_lines(self, instances: List[Instance]) -> List[JsonDict]:
        """The output lines of the instances, without the keys that say where each comes from."""
        for instance in instances:
            # A prediction needs no target. Without it, instances with and without one (SNI
            # instances with and without `output`, instruction records) batch together, which
            # AllenNLP refuses for instances with different fields, and no loss is computed.
            instance.fields.pop("target_tokens", None)
        outputs = super().predict_batch_instance(instances)
        return [self._output_line(instance, output) for instance, output in zip(instances, outputs)]

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        """One output per input item, holding its output lines: one per instance, or its error."""
        lines: List[List[JsonDict]] = []
        slots: List[Tuple[int, int]] = []  # (item, position in its lines) of each instance
        pending: List[_Pending] = []
        for index, item in enumerate(inputs):
            try:
                entries = self._item_entries(item)
            except (ValueError, ConfigurationError) as error:
                entries = [{"line": item.get("line"), "error": str(error)}]
            item_lines: List[JsonDict] = []
            for entry in entries:
                if isinstance(entry, _Pending):
                    slots.append((index, len(item_lines)))
                    pending.append(entry)
                item_lines.append(entry.where if isinstance(entry, _Pending) else entry)
            lines.append(item_lines)
        self._instance_count += len(pending)
        for start in range(0, len(pending), self._batch_size):
            chunk = pending[start : start + self._batch_size]
            predicted = self._predict_lines([entry.instance for entry in chunk])
            for (owner, position), entry, line in zip(
                slots[start : start + self._batch_size], chunk, predicted
            ):
                lines[owner][position] = {**entry.where, **line}
        self._summary["inputs"] += len(inputs)
        for item_lines in lines:
            for line in item_lines:
                self._summary["failed" if "error" in line else "predicted"] += 1
        return [{"lines": item_lines} for item_lines in lines]

    def _item_entries(self, item: JsonDict) -> List[Union["_Pending", JsonDict]]:
        """The item's instances, or for an SNI task instance that cannot be used, its error line."""
        source = item.get("source")
        location = (
            f"line {item.get('line')}"
            if source in (None, "-")
            else f"{source}, line {item.get('line')}"
        )
        if "error" in item:
            raise ValueError(f"{location}: {item['error']}")
        record = item.get("record")
        if not isinstance(record, dict):
            raise ValueError(f"{location}: expected a JSON object, found {type(record).__name__}")
        if is_sni_task(record):
            return self._sni_task_entries(record, item.get("line"), location, source)
        return [_Pending({"line": item.get("line")}, self._json_to_instance(record, location))]

    def _json_to_instance(self, record: JsonDict, location: str = "input") -> Instance:  # type: ignore[override]
        request = prediction_request_from_record(record, location)
        if request.instruction is not None:
            instruction = request.instruction
        elif request.task in self._compiled_instructions:
            instruction = self._compiled_instructions[request.task]
        else:
            raise ValueError(
                f"{location}: no 'instruction', "
                f"and no compiled task named {request.task!r} was loaded"
            )
        instance = self._dataset_reader.text_to_instance(
            input=request.input,
            task=request.task,
            instance_id=request.id,
            **instruction.reader_arguments(),
        )
        self._dataset_reader.apply_token_indexers(instance)
        return instance

    def _sni_task_entries(
        self, record: JsonDict, line: Optional[int], location: str, source: Optional[str]
    ) -> List[Union["_Pending", JsonDict]]:
        # Named like the SNI reader names tasks (the file name without ".json"), unless it says
        # otherwise.
        name_path = Path(
            requested_task(record, location)
            or (source if source not in (None, "-") else "sni_task")
        )
        task = sni_task_from_record(record, sni_task_name(name_path), location)
        if not task.instances:
            raise DataFormatError(f"{location}: 'Instances' is empty: nothing to predict.")
        repeated_ids = repeated_ids_message(task)
        if repeated_ids is not None:
            logger.warning(repeated_ids)
        entries: List[Union[_Pending, JsonDict]] = []
        for number, entry in enumerate(task.instances):
            try:
                sni_instance = sni_instance_from_record(
                    entry, f"{location}, Instances[{number}]", request=True
                )
                instance = self._dataset_reader.text_to_instance(
                    input=sni_instance.input,
                    references=sni_instance.references,
                    task=task.name,
                    instance_id=sni_instance.id,
                    **task.instruction.reader_arguments(),
                )
            except ValueError as error:
                entries.append(
                    {"line": line, "task": task.name, "instance": number, "error": str(error)}
                )
                continue
            self._dataset_reader.apply_token_indexers(instance)
            entries.append(_Pending({"line": line, "instance": number}, instance))
        return entries

    @staticmethod
    def _output_line(instance: Instance, output: JsonDict) -> JsonDict:
        metadata = instance["metadata"].metadata  # type: ignore[attr-defined]
        line = {
            "task": metadata["task"],
            "id": metadata["id"],
            "input": metadata["input"],
            "prediction": output["predicted_text"],
        }
        if metadata["references"]:
            line["references"] = metadata["references"]
        return line


@dataclass(frozen=True)
class _Pending:
    """An instance to predict, and the keys of its output line that say where it comes from."""

    where: JsonDict  # {"line"}; for an instance of an SNI task object, {"line", "instance"}
    instance: Instance


def _compiled_task_paths(locations: List[str]) -> List[Path]:
    paths: List[Path] = []
    for location in locations:
        path = Path(location)
        if path.is_dir():
            paths += sorted(path.glob(f"*{COMPILED_TASK_SUFFIX}"))
        elif path.is_file():
            paths.append(path)
        else:
            paths += sorted(Path(match) for match in glob.glob(location))
    if not paths:
        raise ConfigurationError(f"No compiled task files at {locations}")
    return paths
