import gzip

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.file_reading import (
    DataFormatError,
    expand_file_path,
    iter_lines,
    iter_nonblank_lines,
    read_json_file,
)

BYTE_ORDER_MARK = b"\xef\xbb\xbf"


def test_expand_file_path_forms(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "notes.txt"):
        (tmp_path / name).write_text("{}\n")
    assert expand_file_path(str(tmp_path), [".jsonl"]) == [
        tmp_path / "a.jsonl",
        tmp_path / "b.jsonl",
    ]
    assert expand_file_path(str(tmp_path / "*.txt"), [".jsonl"]) == [tmp_path / "notes.txt"]
    assert expand_file_path(str(tmp_path / "b.jsonl"), [".jsonl"]) == [tmp_path / "b.jsonl"]


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("missing.jsonl", "neither a file, a directory nor a glob pattern"),
        ("*.csv", "No files match"),
        (".", "has no files ending in"),
    ],
)
def test_expand_file_path_errors(tmp_path, pattern, message):
    (tmp_path / "notes.txt").write_text("x\n")
    with pytest.raises(ConfigurationError, match=message):
        expand_file_path(str(tmp_path / pattern), [".jsonl"])


def test_lines_are_numbered_from_one_and_gzip_is_read_transparently(tmp_path):
    path = tmp_path / "docs.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n\n{"a": 2}\n'))
    assert list(iter_lines(path)) == [(1, b'{"a": 1}\n'), (2, b"\n"), (3, b'{"a": 2}\n')]
    assert [number for _, number, _ in iter_nonblank_lines([path])] == [1, 3]


def test_truncated_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "docs.json.gz"
    path.write_bytes(gzip.compress(b'{"text": "a"}\n' * 100)[:30])
    with pytest.raises(DataFormatError, match="not a readable gzip file"):
        list(iter_lines(path))


def test_a_byte_order_mark_at_the_start_of_a_file_is_accepted(tmp_path):
    """The one rule for every reader, the predictor and hint-compile (some editors write one)."""
    lines, value = tmp_path / "lines.jsonl", tmp_path / "value.json"
    lines.write_bytes(BYTE_ORDER_MARK + b'{"a": 1}\n{"a": 2}\n')
    value.write_bytes(BYTE_ORDER_MARK + b'{\n  "a": 1\n}\n')
    assert list(iter_lines(lines)) == [(1, b'{"a": 1}\n'), (2, b'{"a": 2}\n')]
    assert read_json_file(value) == {"a": 1}
