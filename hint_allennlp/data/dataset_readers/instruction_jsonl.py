import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from allennlp.data import DatasetReader, Instance, TokenIndexer, Tokenizer

from hint_allennlp.data.dataset_readers.instruction_reader import gold_choice_index
from hint_allennlp.data.dataset_readers.task_instruction_reader import TaskInstructionReader
from hint_allennlp.data.file_reading import (
    DataFormatError,
    expand_file_path,
    get_string,
    get_string_list,
    iter_nonblank_lines,
    parse_json_line,
)
from hint_allennlp.data.tk_format import read_demonstrations

logger = logging.getLogger(__name__)


@DatasetReader.register("instruction_jsonl")
class InstructionJsonlReader(TaskInstructionReader):
    """
    Reads users' own instruction tasks from JSON lines, one instance per line:

        {"task": "country_capital",
         "instruction": "You are given a country name; return its capital city.",
         "input": "Albania",
         "output": "Tirana",
         "positive_examples": [{"input": "India", "output": "New Delhi"}],
         "categories": ["Misc."]}

    Required: `instruction` (non-empty; treated as SNI's definition), `input`, and either `output`
    (a string) or `outputs` (a non-empty list of acceptable strings). Optional: `task` (default: the
    file name without its extension), `id`, `categories` (list of strings), `positive_examples` and
    `negative_examples` (lists of `{"input", "output", optional "explanation"}`), `answer_choices`
    (list of strings, one of which must be an output). Other keys are ignored.

    `file_path` is a `.jsonl` file, a directory of them, or a glob pattern. Blank lines are skipped.

    # Parameters

    instruction_format, num_positive_examples, num_negative_examples, add_explanations, seed
        As in `TaskInstructionReader`.
    tokenizer, token_indexers, model_name, max_*_tokens, answer_choices
        As in `InstructionReader`.
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`.
    """

    def __init__(
        self,
        instruction_format: str = "hint",
        num_positive_examples: int = 2,
        num_negative_examples: int = 0,
        add_explanations: bool = False,
        seed: int = 0,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        model_name: Optional[str] = None,
        max_instruction_tokens: int = 1024,
        max_source_tokens: int = 1024,
        max_target_tokens: int = 256,
        answer_choices: bool = True,
        max_instances: Optional[int] = None,
        serialization_dir: Optional[str] = None,
    ) -> None:
        super().__init__(
            instruction_format=instruction_format,
            num_positive_examples=num_positive_examples,
            num_negative_examples=num_negative_examples,
            add_explanations=add_explanations,
            seed=seed,
            tokenizer=tokenizer,
            token_indexers=token_indexers,
            model_name=model_name,
            max_instruction_tokens=max_instruction_tokens,
            max_source_tokens=max_source_tokens,
            max_target_tokens=max_target_tokens,
            answer_choices=answer_choices,
            max_instances=max_instances,
            serialization_dir=serialization_dir,
        )

    def _read_instances(self, file_path: str) -> Iterator[Instance]:
        paths = expand_file_path(file_path, suffixes=(".jsonl",))
        logger.info(
            "Reading instruction tasks from %d JSON-lines file(s) at %s.", len(paths), file_path
        )
        for path, line_number, raw_line in self.shard_iterable(iter_nonblank_lines(paths)):
            record = parse_json_line(raw_line, path, line_number)
            yield self._instance_from_record(record, path, f"{path}, line {line_number}")

    def _instance_from_record(self, record: Dict[str, Any], path: Path, location: str) -> Instance:
        instruction = get_string(record, "instruction", location)
        if not instruction.strip():  # type: ignore[union-attr]
            raise DataFormatError(f"{location}: 'instruction' is empty.")
        references = self._references(record, location)
        answer_choices: Optional[List[str]] = None
        if "answer_choices" in record:
            answer_choices = get_string_list(record, "answer_choices", location)
            if gold_choice_index(answer_choices, references) is None:
                raise DataFormatError(f"{location}: no output is one of the answer_choices.")
        demonstrations = {
            key: read_demonstrations(record, key, location) for key in ("positive_examples", "negative_examples")
        }
        return self.text_to_instance(
            instruction,
            get_string(record, "input", location),  # type: ignore[arg-type]
            references=references,
            task=get_string(record, "task", location, required=False) or path.name.split(".")[0],
            categories=get_string_list(record, "categories", location),
            positive_examples=demonstrations["positive_examples"],
            negative_examples=demonstrations["negative_examples"],
            answer_choices=answer_choices,
            instance_id=get_string(record, "id", location, required=False),
        )

    @staticmethod
    def _references(record: Dict[str, Any], location: str) -> List[str]:
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
