"""
The rows of a dataset split as the user exported them with HF `datasets`
(`load_dataset(...)[split].to_json(path)` or `.to_parquet(path)`): JSON lines or parquet with the
dataset's own column names, read by index so that a mixture can draw rows in any order without
holding a split in memory. No hub access: the files are the only source.

Layout: `<data_dir>/<dataset>/<subset>/<split>.jsonl` (or `.parquet`), and
`<data_dir>/<dataset>/<split>.*` for datasets without a subset, e.g.
`data/super_glue/rte/validation.jsonl`, `data/anli/dev_r1.jsonl`.
"""

from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.file_reading import (
    DataFormatError,
    parse_json_line,
    read_json_file,
    without_byte_order_mark,
)
from hint_allennlp.data.p3.resources import COLUMN_MAPPINGS

SPLIT_SUFFIXES = (".jsonl", ".parquet")
# Datasets whose files `datasets` cannot download: where to get them.
MANUAL_DOWNLOADS = {
    "story_cloze": "request its CSV files with the form at "
    "https://cs.rochester.edu/nlp/rocstories/ and give their folder as data_dir."
}


def split_file(data_dir: Path, folder: str, split: str) -> Path:
    """The exported file of `folder`'s `split`; a `ConfigurationError` says how to export it."""
    candidates = [data_dir / folder / f"{split}{suffix}" for suffix in SPLIT_SUFFIXES]
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        raise ConfigurationError(f"Both {found[0]} and {found[1]} exist; keep one.")
    if not found:
        name, _, subset = folder.partition("/")
        arguments = f'"{name}", "{subset}"' if subset else f'"{name}"'
        manual = ""
        if name in MANUAL_DOWNLOADS:
            arguments += ', data_dir="<folder with its files>"'
            manual = f" {name} is not downloaded by `datasets`: {MANUAL_DOWNLOADS[name]}"
        raise ConfigurationError(
            f"No {split!r} split of {folder}: expected {candidates[0]} (or .parquet). Export it "
            f"with `datasets.load_dataset({arguments})[{split!r}].to_json({str(candidates[0])!r})`."
            + manual
        )
    return found[0]


@dataclass(frozen=True)
class ColumnMapping:
    """
    A dataset's columns in the layout of today's `datasets` mapped back to promptsource 0.2.3's
    (`resources/column_mappings.json`): per new column, the old name (after `removeHyphen`) and,
    for class labels, each new label number's old number.
    """

    dataset: str
    columns: Dict[str, str]
    labels: Dict[str, Dict[int, int]]

    def apply(self, example: Dict[str, Any]) -> Dict[str, Any]:
        """The example with the new columns renamed and their labels renumbered."""
        mapped = {key: value for key, value in example.items() if key not in self.columns}
        for new, old in self.columns.items():
            if new in example:
                value = example[new]
                numbers = self.labels.get(new, {})
                mapped[old] = numbers.get(value, value) if isinstance(value, int) else value
        return mapped


def column_mappings() -> Dict[str, ColumnMapping]:
    """The known column mappings, by dataset folder."""
    document = read_json_file(COLUMN_MAPPINGS)
    mappings = {}
    for dataset, columns in document["mappings"].items():
        renamed, labels = {}, {}
        for new, entry in columns.items():
            renamed[new] = entry["to"].replace("-", "_")
            old_numbers = {name: number for number, name in enumerate(entry["old_names"])}
            labels[new] = {
                number: old_numbers[name.rsplit(":", 1)[-1]]
                for number, name in enumerate(entry["new_names"])
            }
        mappings[dataset] = ColumnMapping(dataset, renamed, labels)
    return mappings


def remove_hyphens(example: Dict[str, Any]) -> Dict[str, Any]:
    """promptsource's `removeHyphen`: `-` in column names becomes `_`, as templates name them."""
    return {key.replace("-", "_"): value for key, value in example.items()}


class DatasetRows:
    """
    One split's rows, by index from 0 (blank lines of a JSON-lines file are not rows).

    # Parameters

    path : `Path`
        A `.jsonl` file of JSON objects, one per line, or a `.parquet` file (decoded into memory
        when opened, memory-mapped).
    column_mapping : `ColumnMapping`, optional
        Applied to every row (after `removeHyphen`).
    """

    def __init__(self, path: Path, column_mapping: Optional[ColumnMapping] = None) -> None:
        self.path, self.column_mapping = path, column_mapping
        self._parquet = path.name.endswith(".parquet")
        if self._parquet:
            import pyarrow  # only parquet needs it (a dependency of `datasets`)
            import pyarrow.parquet

            try:
                self._table = pyarrow.parquet.read_table(path, memory_map=True)
            except (pyarrow.ArrowException, OSError) as error:
                raise ConfigurationError(
                    f"{path}: not a readable parquet file ({error}). Export the split again with "
                    "`Dataset.to_parquet` (or `.to_json` as .jsonl)."
                ) from None
            self._length = self._table.num_rows
        else:
            # Where each row starts and its line number: rows are read again by seeking.
            self._offsets, self._line_numbers = array("q"), array("q")
            offset = 0
            with open(path, "rb") as file:
                for line_number, line in enumerate(file, start=1):
                    if line.strip():
                        self._offsets.append(offset)
                        self._line_numbers.append(line_number)
                    offset += len(line)
            self._length = len(self._offsets)
            self._file = open(path, "rb")

    def __len__(self) -> int:
        return self._length

    def location(self, index: int) -> str:
        if self._parquet:
            return f"{self.path}, row {index}"
        return f"{self.path}, line {self._line_numbers[index]}"

    def example(self, index: int) -> Dict[str, Any]:
        """Row `index` with promptsource's column names; `DataFormatError` for a malformed row."""
        if self._parquet:
            rows: List[Dict[str, Any]] = self._table.slice(index, 1).to_pylist()
            example = remove_hyphens(rows[0])
        else:
            self._file.seek(self._offsets[index])
            line_number = self._line_numbers[index]
            raw_line = self._file.readline()
            if line_number == 1:
                raw_line = without_byte_order_mark(raw_line)
            try:
                example = remove_hyphens(parse_json_line(raw_line, self.path, line_number))
            except RecursionError:
                raise DataFormatError(
                    f"{self.location(index)}: nested too deeply to read as JSON."
                ) from None
        return example if self.column_mapping is None else self.column_mapping.apply(example)

    def close(self) -> None:
        if not self._parquet:
            self._file.close()
