import logging
from typing import Iterator

from allennlp.data import DatasetReader, Instance

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
    tokenizer, token_indexers, model_name, max_*_tokens, answer_choices, sequence_layout
        As in `InstructionReader`.
    max_instances, serialization_dir
        As in AllenNLP's `DatasetReader`.
    """

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
