import glob
import json
import logging
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor

from hint_allennlp.data.instruction_inputs import (
    TaskInstruction,
    is_sni_task,
    prediction_request_from_record,
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

    Output lines: `{"task", "id", "input", "prediction"}`, plus `"references"` when known; a line
    that cannot be used gives `{"line", "error"}` (its physical line) and the other lines are still
    predicted: every input line or task instance gives exactly one output line. Tasks
    repeat cheaply: the model keeps the generated modules of recent instructions (its task-module
    cache), and compiled tasks never run the hypernetwork.

    # Parameters

    model : `Model`
    dataset_reader : `DatasetReader`
        A reader with `text_to_instance(instruction, input, ...)`: `sni` or `instruction_jsonl`.
    frozen : `bool`, optional (default = `True`)
    compiled_tasks : `List[str]`, optional (default = `None`)
        Files written by `allennlp hint-compile`, or directories or globs of them. A file compiled
        from another model is refused.
    cache_size : `int`, optional (default = `None`)
        Overrides the model's `task_module_cache_size` (0 turns the cache off).
    batch_size : `int`, optional (default = `32`)
        Batch size for the instances of an SNI task object.
    """

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        compiled_tasks: Optional[Union[str, List[str]]] = None,
        cache_size: Optional[int] = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        if not hasattr(dataset_reader, "text_to_instance") or not hasattr(
            dataset_reader, "_instruction_format"
        ):
            raise ConfigurationError(
                "hint_instruction needs an 'sni' or 'instruction_jsonl' dataset reader"
            )
        if cache_size is not None:
            model.task_parameter_cache.max_size = cache_size
        self._batch_size = batch_size
        self._compiled_instructions: Dict[str, TaskInstruction] = {}
        self._line_number = 0
        self._instance_count = 0
        if compiled_tasks:
            self._load_compiled_tasks(
                [compiled_tasks] if isinstance(compiled_tasks, str) else compiled_tasks
            )

    def _load_compiled_tasks(self, locations: List[str]) -> None:
        fingerprint = model_fingerprint(self._model)
        for path in _compiled_task_paths(locations):
            compiled = CompiledTask.load(path, fingerprint)
            self._model.task_parameter_cache.pin(compiled.key, compiled.parameters)
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
        with the physical line it starts on (`json_input_items`): `allennlp predict` reads its input
        here (see `hint_allennlp.compat`), so that no line is skipped, merged or lost.
        """
        self._dataset_reader.reset_counts()
        self._instance_count = 0
        for item in json_input_items(raw_lines):
            yield {**item, "source": source}

    def report_input(self, source: str) -> None:
        """
        Logs what the reader shortened or left out in the whole input, once (after
        `read_json_input`).
        """
        self._dataset_reader.log_counts(source, self._instance_count)

    def dump_line(self, outputs: JsonDict) -> str:
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in outputs["lines"])

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self.predict_batch_instance([instance])[0]

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        """Used by `--use-dataset-reader`: each instance's output line, as `dump_line` takes it."""
        return [{"lines": [line]} for line in self._predict_lines(instances)]

    def _predict_lines(self, instances: List[Instance]) -> List[JsonDict]:
        outputs = super().predict_batch_instance(instances)
        return [self._output_line(instance, output) for instance, output in zip(instances, outputs)]

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        """One output per input item, holding its output lines: one per instance, or its error."""
        lines: List[List[Optional[JsonDict]]] = []
        slots: List[Tuple[int, int]] = []  # (item, position in its lines) of each instance
        instances: List[Instance] = []
        for index, item in enumerate(inputs):
            try:
                entries = self._item_entries(item)
            except (ValueError, ConfigurationError) as error:
                entries = [{"line": item.get("line"), "error": str(error)}]
            item_lines: List[Optional[JsonDict]] = []
            for entry in entries:
                if isinstance(entry, Instance):
                    slots.append((index, len(item_lines)))
                    instances.append(entry)
                    item_lines.append(None)  # filled in with its prediction below
                else:
                    item_lines.append(entry)
            lines.append(item_lines)
        self._instance_count += len(instances)
        for start in range(0, len(instances), self._batch_size):
            chunk = instances[start : start + self._batch_size]
            for (owner, position), line in zip(
                slots[start : start + self._batch_size], self._predict_lines(chunk)
            ):
                lines[owner][position] = line
        return [{"lines": item_lines} for item_lines in lines]

    def _item_entries(self, item: JsonDict) -> List[Union[Instance, JsonDict]]:
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
        return [self._json_to_instance(record, location)]

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
    ) -> List[Union[Instance, JsonDict]]:
        # Named like the SNI reader names tasks (the file name without ".json"), unless it says
        # otherwise.
        name_path = Path(
            requested_task(record, location)
            or (source if source not in (None, "-") else "sni_task")
        )
        task = sni_task_from_record(record, sni_task_name(name_path), location)
        entries: List[Union[Instance, JsonDict]] = []
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
            entries.append(instance)
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
