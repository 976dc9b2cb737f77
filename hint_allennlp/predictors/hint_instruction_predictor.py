import glob
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor

from hint_allennlp.data.dataset_readers.sni import sni_task_from_record
from hint_allennlp.data.tk_format import Demonstration, read_demonstrations
from hint_allennlp.modules.compiled_task import COMPILED_TASK_SUFFIX, CompiledTask, model_fingerprint

logger = logging.getLogger(__name__)


@Predictor.register("hint_instruction")
class HintInstructionPredictor(Predictor):
    """
    Predicts for instruction-following inputs, one JSON line out per example. `allennlp predict`
    hands it its input line by line; each line (or each JSON object spread over several lines) is:

    - `{"instruction": str, "input": str, "task"?: str, "id"?: str, "positive_examples"?: [...]}`;
    - `{"task": str, "input": str}` for a task loaded from `compiled_tasks`;
    - a Super-NaturalInstructions task object (`Definition`, `Instances`, ...), as in an SNI task
      file, pretty-printed or not: every instance is predicted.

    Output lines: `{"task", "id", "input", "prediction"}`, plus `"references"` when known; a line
    that cannot be used gives `{"line", "error"}` and the other lines are still predicted. Tasks
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
        if not hasattr(dataset_reader, "text_to_instance") or not hasattr(dataset_reader, "_instruction_format"):
            raise ConfigurationError("hint_instruction needs an 'sni' or 'instruction_jsonl' dataset reader")
        if cache_size is not None:
            model.task_module_cache.max_size = cache_size
        self._batch_size = batch_size
        self._compiled_instructions: Dict[str, Dict[str, Any]] = {}
        self._pending_lines: List[str] = []
        self._line_number = 0
        if compiled_tasks:
            self._load_compiled_tasks([compiled_tasks] if isinstance(compiled_tasks, str) else compiled_tasks)

    def _load_compiled_tasks(self, locations: List[str]) -> None:
        fingerprint = model_fingerprint(self._model)
        for path in _compiled_task_paths(locations):
            compiled = CompiledTask.load(path, fingerprint)
            self._model.task_module_cache.pin(compiled.key, compiled.modules)
            self._compiled_instructions[compiled.task] = compiled.instruction
            logger.info("Loaded compiled task %s from %s", compiled.task, path)

    def load_line(self, line: str) -> JsonDict:
        """
        One non-blank input line. A line that is just "{" starts a JSON object spread over lines
        (a pretty-printed SNI task file); it is parsed when complete.
        """
        self._line_number += 1
        if self._pending_lines or line.strip() in ("{", "["):
            self._pending_lines.append(line)
            try:
                record = json.loads("".join(self._pending_lines))
            except json.JSONDecodeError:
                return {"pending": True}
            first_line = self._line_number - len(self._pending_lines) + 1
            self._pending_lines = []
            return {"line": first_line, "record": record}
        try:
            return {"line": self._line_number, "record": json.loads(line)}
        except json.JSONDecodeError as error:
            return {"line": self._line_number, "error": f"not valid JSON: {error.msg} (column {error.colno})"}

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
        """One output per input item, holding its output lines (none for an incomplete object)."""
        lines: List[List[JsonDict]] = [[] for _ in inputs]
        instances: List[Instance] = []
        owners: List[int] = []
        for index, item in enumerate(inputs):
            try:
                item_instances = self._item_instances(item)
            except (ValueError, ConfigurationError) as error:
                lines[index].append({"line": item.get("line"), "error": str(error)})
                continue
            instances += item_instances
            owners += [index] * len(item_instances)
        for start in range(0, len(instances), self._batch_size):
            chunk = instances[start : start + self._batch_size]
            for owner, line in zip(owners[start : start + self._batch_size], self._predict_lines(chunk)):
                lines[owner].append(line)
        return [{"lines": item_lines} for item_lines in lines]

    def _item_instances(self, item: JsonDict) -> List[Instance]:
        if item.get("pending"):
            return []
        if "error" in item:
            raise ValueError(f"line {item['line']}: {item['error']}")
        record, location = item.get("record"), f"line {item.get('line')}"
        if not isinstance(record, dict):
            raise ValueError(f"{location}: expected a JSON object, found {type(record).__name__}")
        if "Definition" in record and "Instances" in record:
            return self._sni_task_instances(record, location)
        return [self._json_to_instance(record, location)]

    def _json_to_instance(self, record: JsonDict, location: str = "input") -> Instance:  # type: ignore[override]
        task = record.get("task") or ""
        instance_input = record.get("input")
        if not isinstance(instance_input, str):
            raise ValueError(f"{location}: 'input' must be a string, found {type(instance_input).__name__}")
        if "instruction" in record:
            instruction = record["instruction"]
            if not isinstance(instruction, str) or not instruction.strip():
                raise ValueError(f"{location}: 'instruction' must be a non-empty string")
            arguments: Dict[str, Any] = {
                "instruction": instruction,
                "positive_examples": read_demonstrations(record, "positive_examples", location),
            }
        elif task in self._compiled_instructions:
            arguments = instruction_arguments(self._compiled_instructions[task])
        else:
            raise ValueError(f"{location}: no 'instruction', and no compiled task named {task!r} was loaded")
        instance = self._dataset_reader.text_to_instance(
            input=instance_input, task=task, instance_id=record.get("id"), **arguments
        )
        self._dataset_reader.apply_token_indexers(instance)
        return instance

    def _sni_task_instances(self, record: JsonDict, location: str) -> List[Instance]:
        task = sni_task_from_record(record, Path(record.get("task") or "sni_task"))
        instructions = sni_task_instruction(task)
        instances = []
        for number, entry in enumerate(task.instances):
            entry_location = f"{location}, Instances[{number}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("input"), str):
                raise ValueError(f"{entry_location}: an instance needs a string 'input'")
            references = entry.get("output") or []
            instance = self._dataset_reader.text_to_instance(
                input=entry["input"],
                references=[references] if isinstance(references, str) else references,
                task=record.get("task") or task.name,
                instance_id=entry.get("id"),
                **instruction_arguments(instructions),
            )
            self._dataset_reader.apply_token_indexers(instance)
            instances.append(instance)
        return instances

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


def sni_task_instruction(task) -> Dict[str, Any]:
    """The JSON-safe `text_to_instance` arguments that give an SNI task's hypernetwork input."""
    return {
        "instruction": task.definition,
        "categories": task.categories,
        "positive_examples": [asdict(example) for example in task.positive_examples],
        "negative_examples": [asdict(example) for example in task.negative_examples],
    }


def instruction_arguments(stored: Dict[str, Any]) -> Dict[str, Any]:
    """`text_to_instance` arguments from a JSON-safe instruction description (`sni_task_instruction`)."""
    return {
        "instruction": stored["instruction"],
        "categories": stored.get("categories") or [],
        "positive_examples": [Demonstration(**example) for example in stored.get("positive_examples", [])],
        "negative_examples": [Demonstration(**example) for example in stored.get("negative_examples", [])],
    }


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
