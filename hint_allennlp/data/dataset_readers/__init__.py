"""Importing this package registers every dataset reader in it."""

from hint_allennlp.data.dataset_readers.hypernetwork_pretraining import (
    HypernetworkPretrainingReader,
)
from hint_allennlp.data.dataset_readers.instruction_jsonl import InstructionJsonlReader
from hint_allennlp.data.dataset_readers.instruction_reader import InstructionReader
from hint_allennlp.data.dataset_readers.p3 import P3Reader
from hint_allennlp.data.dataset_readers.sni import SuperNaturalInstructionsReader
from hint_allennlp.data.dataset_readers.task_instruction_reader import TaskInstructionReader

__all__ = [
    "HypernetworkPretrainingReader",
    "InstructionJsonlReader",
    "InstructionReader",
    "P3Reader",
    "SuperNaturalInstructionsReader",
    "TaskInstructionReader",
]
