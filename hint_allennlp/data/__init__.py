"""Data for HINT: instruction-aware dataset readers and the Tk-Instruct prompt format."""

from hint_allennlp.data import dataset_readers
from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.data.tk_format import Demonstration

__all__ = ["dataset_readers", "DataFormatError", "Demonstration"]
