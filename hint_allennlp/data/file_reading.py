"""
Reading the files that the dataset readers accept, with errors that name the file (and the line, for
JSON lines) and say what is wrong.

Files are read as bytes and decoded one line (or one file) at a time, so that a byte sequence that
is not UTF-8 is reported where it is rather than wherever the text decoder's buffer happened to end.
A UTF-8 byte-order mark at the start of a file (some editors write one) is accepted and removed
(`without_byte_order_mark`), by every reader, the predictor and `allennlp hint-compile` alike.
"""

import codecs
import glob
import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from allennlp.common.checks import ConfigurationError


class DataFormatError(ValueError):
    """Input data that cannot be read as documented; the message names the file, line and fault."""


GLOB_CHARACTERS = "*?["


def expand_file_path(file_path: Union[str, os.PathLike], suffixes: Sequence[str]) -> List[Path]:
    """
    Turns the one string (or path) AllenNLP passes as `file_path` into a sorted list of files: a
    single file, a directory (its files whose names end in one of `suffixes`), or a glob pattern.
    """
    file_path = os.fspath(file_path)
    if any(character in file_path for character in GLOB_CHARACTERS):
        paths = sorted(Path(match) for match in glob.glob(file_path) if Path(match).is_file())
        if not paths:
            raise ConfigurationError(f"No files match the pattern {file_path!r}.")
        return paths
    path = Path(file_path)
    if path.is_dir():
        paths = sorted(child for child in path.iterdir() if has_suffix(child, suffixes))
        if not paths:
            raise ConfigurationError(
                f"The directory {file_path!r} has no files ending in any of {list(suffixes)}."
            )
        return paths
    if path.is_file():
        return [path]
    raise ConfigurationError(f"{file_path!r} is neither a file, a directory nor a glob pattern.")


def has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    return any(path.name.endswith(suffix) for suffix in suffixes)


def _open_binary(path: Path) -> BinaryIO:
    # C4 ships as .json.gz; every other file is plain.
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def without_byte_order_mark(start_of_file: bytes) -> bytes:
    """The first bytes of a file (its first line, or all of it) without a UTF-8 byte-order mark."""
    return start_of_file.removeprefix(codecs.BOM_UTF8)


def iter_lines(path: Path) -> Iterator[Tuple[int, bytes]]:
    """
    Yields `(line_number, raw_line)` for every line, blank ones included, numbered from 1 (the
    first without a byte-order mark).
    """
    try:
        with _open_binary(path) as file:
            for line_number, raw_line in enumerate(file, start=1):
                yield (
                    line_number,
                    (without_byte_order_mark(raw_line) if line_number == 1 else raw_line),
                )
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataFormatError(f"{path}: not a readable gzip file ({error}).") from None


def iter_nonblank_lines(paths: Sequence[Path]) -> Iterator[Tuple[Path, int, bytes]]:
    """
    `(path, line_number, raw_line)` for the non-blank lines of the files (e.g. JSON lines), still
    undecoded so that a reader can shard them first and decode and parse only its own share.
    """
    for path in paths:
        for line_number, raw_line in iter_lines(path):
            if raw_line.strip():
                yield path, line_number, raw_line


def decode_utf8(raw: bytes, location: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        bad_bytes = raw[error.start : error.end]
        raise DataFormatError(
            f"{location}: not UTF-8 text (bytes {bad_bytes!r} at offset {error.start})."
        ) from None


def parse_json_line(raw: bytes, path: Path, line_number: int) -> Dict[str, Any]:
    """One line of a JSON-lines file, which must hold a JSON object."""
    location = f"{path}, line {line_number}"
    try:
        record = json.loads(decode_utf8(raw, location))
    except json.JSONDecodeError as error:
        raise DataFormatError(
            f"{location}: malformed JSON ({error.msg} at column {error.colno})."
        ) from None
    if not isinstance(record, dict):
        raise DataFormatError(f"{location}: expected a JSON object, found {type(record).__name__}.")
    return record


def read_text_file(path: Path) -> str:
    """A whole UTF-8 text file, without its byte-order mark."""
    with open(path, "rb") as file:
        return decode_utf8(without_byte_order_mark(file.read()), str(path))


def read_json_file(path: Path) -> Any:
    """A whole file holding one JSON value."""
    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFormatError(
            f"{path}: malformed JSON ({error.msg} at line {error.lineno}, column {error.colno})."
        ) from None


def get_string(
    record: Mapping[str, Any], key: str, location: str, *, required: bool = True
) -> Optional[str]:
    """`record[key]`, which must be a string; `None` when the key is absent and not `required`."""
    if key not in record:
        if required:
            raise DataFormatError(f"{location}: missing key {key!r}.")
        return None
    value = record[key]
    if not isinstance(value, str):
        raise DataFormatError(
            f"{location}: {key!r} must be a string, found {type(value).__name__}."
        )
    return value


def get_string_list(record: Mapping[str, Any], key: str, location: str) -> List[str]:
    """`record[key]`, which must be a list of strings; an empty list when the key is absent."""
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataFormatError(f"{location}: {key!r} must be a list of strings.")
    return value
