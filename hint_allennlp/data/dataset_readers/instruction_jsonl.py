import logging
from typing import Dict, Iterator, Optional

from allennlp.data import DatasetReader, Instance, TokenIndexer, Tokenizer

from hint_allennlp.data.dataset_readers.task_instruction_reader import TaskInstructionReader
from hint_allennlp.data.file_reading import expand_file_path, iter_nonblank_lines, parse_json_line
from hint_allennlp.data.instruction_inputs import instruction_example_from_record

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

    The keys, which are required and how each is checked: `instruction_example_from_record`
    (`hint_allennlp.data.instruction_inputs`); the task defaults to the file name without its
    extension.

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
            example = instruction_example_from_record(
                record, f"{path}, line {line_number}", default_task=path.name.split(".")[0]
            )
            yield self.text_to_instance(
                input=example.input,
                references=example.references,
                task=example.task,
                answer_choices=example.answer_choices,
                instance_id=example.id,
                **example.instruction.reader_arguments(),
            )
