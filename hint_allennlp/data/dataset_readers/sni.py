import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance

from hint_allennlp.data.dataset_readers.task_instruction_reader import TaskInstructionReader
from hint_allennlp.data.file_reading import (
    DataFormatError,
    decode_utf8,
    expand_file_path,
    iter_lines,
)
from hint_allennlp.data.instruction_inputs import (
    SniTask,
    load_sni_task,
    repeated_ids_message,
    sni_instance_from_record,
)

logger = logging.getLogger(__name__)


@DatasetReader.register("sni")
class SuperNaturalInstructionsReader(TaskInstructionReader):
    """
    Reads Super-NaturalInstructions task files (`tasks/<task>.json` with `Definition`, `Positive
    Examples`, `Negative Examples`, `Instances`, ...). The `file_path` given to `read` is one of:

    - a split file (`*.txt`, one task name per line, as SNI's `splits/default/train_tasks.txt`),
      whose tasks are looked up in `tasks_dir`; a task listed twice is refused (its instances
      would count twice);
    - a single task file (`*.json`);
    - a directory (all its `*.json` files);
    - a glob pattern (e.g. `data/tasks/task1*.json`).

    Tasks are read in the split file's order (sorted by path for directories and globs), instances
    in file order. Each instance becomes one `Instance` (fields: see `InstructionReader`); its task
    name is the file name without `.json`. An instance whose `output` is an empty list is skipped:
    each is named in a warning and their number is in the file's summary. Any other malformed
    instance is refused with an error naming the file and instance. Instances of a task that share
    an id are read, with a warning counting them.

    # Parameters

    tasks_dir : `str`, optional (default = `None`)
        Where the task files named in a split file are. Required when reading a split file.
    max_instances_per_task : `int`, optional (default = `100`)
        Only the first this many instances of each task are read (`None`: all). The fixture and
        SNI's test tasks put their evaluation instances first, as Tk-Instruct assumes.
    english_only : `bool`, optional (default = `True`)
        Skip tasks whose `Input_language`, `Output_language` and `Instruction_language` are not all
        exactly `["English"]` (a missing list counts as not English). A read whose tasks are all
        skipped so is refused, naming the file and this setting.
    instruction_format, num_positive_examples, num_negative_examples, add_explanations, seed
        As in `TaskInstructionReader`.
    tokenizer, token_indexers, model_name, max_*_tokens, answer_choices, sequence_layout
        As in `InstructionReader`.
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`.
    """

    def __init__(
        self,
        tasks_dir: Optional[str] = None,
        max_instances_per_task: Optional[int] = 100,
        english_only: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if max_instances_per_task is not None and max_instances_per_task < 1:
            raise ConfigurationError("max_instances_per_task must be a positive number or null.")
        self._tasks_dir = None if tasks_dir is None else Path(tasks_dir)
        self._max_instances_per_task = max_instances_per_task
        self._english_only = english_only

    def _read_instances(self, file_path: str) -> Iterator[Instance]:
        task_paths = self._task_paths(file_path)
        logger.info(
            "Reading %d SNI task files from %s (instruction_format %s).",
            len(task_paths),
            file_path,
            self._instruction_format,
        )
        # Every process walks all tasks (cheap) and builds instances only for its own shard.
        for task, index, record in self.shard_iterable(self._task_instances(file_path, task_paths)):
            instance = self._instance_from_record(task, index, record)
            if instance is not None:
                yield instance

    def _task_paths(self, file_path: str) -> List[Path]:
        path = Path(file_path)
        if path.suffix == ".txt" and path.is_file():
            return self._tasks_in_split(path)
        if path.is_file() and path.suffix != ".json":
            raise ConfigurationError(
                self._not_sni_input_message(path, f"not a {path.suffix or 'suffixless'} file")
            )
        return expand_file_path(file_path, suffixes=(".json",))

    def _not_sni_input_message(self, path: Path, found: str) -> str:
        """Why `path` is not read, and the reader that reads JSON lines, as an override."""
        reader = {
            "type": "instruction_jsonl",
            "model_name": self._model_name,
            "instruction_format": self._instruction_format,
            "num_positive_examples": self._num_positive_examples,
            "sequence_layout": self._sequence_layout,
            **{f"max_{name}": value for name, value in self._max_lengths.items()},
        }
        return (
            f"{path}: the dataset reader is 'sni' (an archive's is its config's), which reads an "
            "SNI task file (.json), a directory or glob of them, or a split file (.txt, one task "
            f"name per line): {found}. For JSON lines of "
            '{"instruction", "input", "output"} records (docs/readers.md) use the '
            "'instruction_jsonl' reader; for `allennlp evaluate` add --overrides "
            f"'{json.dumps({'validation_dataset_reader': reader})}'"
        )

    def _tasks_in_split(self, split_path: Path) -> List[Path]:
        if self._tasks_dir is None:
            raise ConfigurationError(
                f"{split_path} is a split file (task names); set the reader's `tasks_dir` to the "
                "directory holding the task files."
            )
        lines_of_tasks: Dict[Path, int] = {}  # each task's file, and the line naming it
        for line_number, raw_line in iter_lines(split_path):
            name = decode_utf8(raw_line, f"{split_path}, line {line_number}").strip()
            if not name:
                continue
            task_path = self._tasks_dir / (name if name.endswith(".json") else f"{name}.json")
            if not task_path.is_file():
                raise ConfigurationError(
                    f"{split_path}, line {line_number}: task {name!r} has no file {task_path} "
                    f"(tasks_dir = {self._tasks_dir})."
                )
            if task_path in lines_of_tasks:
                # Read twice, its instances would count twice in training and evaluation.
                raise ConfigurationError(
                    f"{split_path}, line {line_number}: task {name!r} is already listed on line "
                    f"{lines_of_tasks[task_path]}; list each task once."
                )
            lines_of_tasks[task_path] = line_number
        if not lines_of_tasks:
            raise ConfigurationError(f"The split file {split_path} names no tasks.")
        return list(lines_of_tasks)

    def _task_instances(
        self, file_path: str, task_paths: List[Path]
    ) -> Iterator[Tuple[SniTask, int, Any]]:
        non_english = 0
        for task_path in task_paths:
            try:
                task = load_sni_task(task_path)
            except DataFormatError as error:
                if "Extra data" not in str(error):
                    raise
                # A JSON-lines file named `.json`: one JSON value per line, not one task.
                raise DataFormatError(
                    self._not_sni_input_message(task_path, f"{error} (JSON lines?)")
                ) from None
            if self._english_only and not task.is_english:
                logger.info("Skipping %s: not an English task.", task.name)
                self._counts["non-English tasks skipped"] += 1
                non_english += 1
                continue
            repeated_ids = repeated_ids_message(task)
            if repeated_ids is not None:
                logger.warning(repeated_ids)
            kept = len(task.instances)
            if self._max_instances_per_task is not None and kept > self._max_instances_per_task:
                kept = self._max_instances_per_task
                self._counts[f"instances skipped beyond max_instances_per_task={kept}"] += (
                    len(task.instances) - kept
                )
            for index in range(kept):
                yield task, index, task.instances[index]
        if non_english == len(task_paths):
            # Nothing to read is an error here rather than an empty dataset further on (an
            # evaluation scoring nothing, a training loop's bare StopIteration).
            raise ConfigurationError(
                f"{file_path}: none of its {non_english} tasks is English (their Input_language, "
                'Output_language and Instruction_language are not all ["English"]), so with '
                "the reader's `english_only: true` there is nothing to read; set `english_only: "
                "false` to read them."
            )

    def _instance_from_record(self, task: SniTask, index: int, record: Any) -> Optional[Instance]:
        """The instance, or None for one that has no output (skipped, named and counted)."""
        location = f"{task.location}, Instances[{index}]"
        instance = sni_instance_from_record(record, location)
        if not instance.references:
            # Nothing to train on or score against, and an instance without a target cannot be
            # batched with ones that have one.
            logger.warning("Skipping %s (id %s): 'output' is an empty list.", location, instance.id)
            self._counts["instances skipped: 'output' is an empty list"] += 1
            return None
        return self.text_to_instance(
            input=instance.input,
            references=instance.references,
            task=task.name,
            instance_id=instance.id,
            **task.instruction.reader_arguments(),
        )
