"""
Splits a predictor's input into JSON values, each with the physical line it starts on, without ever
losing a line: every non-blank line ends up in exactly one item, a parsed value or an error.

Most inputs are JSON lines; a value may also spread over several lines (a pretty-printed SNI task
file). A line that does not parse because its text ended too early opens a multi-line value; the
following lines are added until the value parses. If a later line cannot continue it (say the open
line was a stray `{` or a truncated JSON line and the next line is a complete object), the open
value is reported as an error on the line it started on and reading resumes with the line after
that one, so every later line is still read on its own. A value still open at the end of the input
(a truncated pretty-printed file) is one error on its first line, naming the lines it took. Lines
are decoded one at a time, so bytes that are not UTF-8 are an error of their own line only.
"""

import contextlib
import json
import re
import sys
from collections import deque
from dataclasses import dataclass
from typing import IO, Any, Deque, Dict, Iterable, Iterator, List, Optional, Tuple

from allennlp.common.file_utils import cached_path, open_compressed

from hint_allennlp.data.file_reading import (
    DataFormatError,
    decode_utf8,
    without_byte_order_mark,
)


@contextlib.contextmanager
def open_input(input_file: str) -> Iterator[IO[bytes]]:
    """
    The undecoded lines of a predictor's input: "-" is stdin; a path or URL is read as AllenNLP
    reads it (`cached_path`, compressed files opened by their suffix).
    """
    if input_file == "-":
        yield sys.stdin.buffer
        return
    with open_compressed(cached_path(input_file), "rb", encoding=None) as file_input:
        yield file_input


# Python's parser recurses once per nesting level: a value nested deeper than the interpreter's
# recursion limit is an error of its own line, not of the whole input.
TOO_DEEP = (
    "not usable JSON: nested too deeply for Python's JSON parser (arrays or objects inside "
    "each other beyond its recursion limit)"
)
# JSON strings on one line (escapes included), removed before counting brackets.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class _Line:
    number: int
    text: Optional[str]  # None when the bytes are not UTF-8
    decode_error: str = ""


def _decode(number: int, raw: bytes) -> _Line:
    if number == 1:
        raw = without_byte_order_mark(raw)
    try:
        return _Line(number, decode_utf8(raw, f"line {number}"))
    except DataFormatError as error:
        return _Line(number, None, str(error))


def _bracket_balance(text: str) -> int:
    """Opening minus closing brackets outside strings: where a multi-line value may be complete."""
    structure = _JSON_STRING.sub("", text)
    return sum(structure.count(opening) for opening in "{[") - sum(
        structure.count(closing) for closing in "}]"
    )


def _ended_too_early(error: json.JSONDecodeError, text: str) -> bool:
    """The text is a valid beginning of a JSON value: the parser failed only at its end."""
    return error.pos >= len(text.rstrip())


def json_input_items(raw_lines: Iterable[bytes]) -> Iterator[Dict[str, Any]]:
    """
    `{"line": n, "record": value}` for each JSON value of the input, or `{"line": n, "error": str}`,
    in input order; `n` is the physical line (counting from 1, blank lines included) it starts on.
    """
    incoming = (_decode(number, raw) for number, raw in enumerate(raw_lines, start=1))
    replayed: Deque[_Line] = deque()  # lines to read again after an open value broke
    open_lines: List[_Line] = []  # the lines of the open multi-line value, if any
    balance = size = parsed_size = (
        0  # of the open value: brackets, characters, characters last parsed
    )
    while True:
        line = replayed.popleft() if replayed else next(incoming, None)
        if line is None:
            if not open_lines:
                return
            ended = (
                "it is not closed at the end of the input "
                f"(lines {open_lines[0].number} to {open_lines[-1].number})"
            )
            item, to_replay = _parse_open_value(open_lines, ended)
            yield item  # type: ignore[misc]
            open_lines = []
            replayed.extend(to_replay)
            continue
        if not open_lines:
            if line.text is None:
                yield {"line": line.number, "error": line.decode_error}
                continue
            if not line.text.strip():
                continue
            try:
                yield {"line": line.number, "record": json.loads(line.text)}
            except RecursionError:
                yield {"line": line.number, "error": TOO_DEEP}
            except json.JSONDecodeError as error:
                if _ended_too_early(error, line.text):
                    open_lines, balance = [line], _bracket_balance(line.text)
                    size = parsed_size = len(line.text)
                else:
                    yield {
                        "line": line.number,
                        "error": f"not valid JSON: {error.msg} (column {error.colno})",
                    }
            continue
        if line.text is None:
            ended = f"line {line.number} cannot continue it ({line.decode_error})"
            item, to_replay = _parse_open_value(open_lines, ended)
            yield item  # type: ignore[misc]
            open_lines = []
            replayed.extendleft(reversed(to_replay + [line]))
            continue
        open_lines.append(line)
        balance += _bracket_balance(line.text)
        size += len(line.text)
        # Parse when the brackets close, and whenever the value has doubled since the last attempt,
        # so that a broken value is found early while the parsing stays linear in the input size.
        if balance > 0 and size < 2 * parsed_size:
            continue
        parsed_size = size
        item, to_replay = _parse_open_value(open_lines, ended=None)
        if item is not None:
            yield item
            open_lines = []
            replayed.extendleft(reversed(to_replay))


def _parse_open_value(
    open_lines: List[_Line], ended: Optional[str]
) -> Tuple[Optional[Dict[str, Any]], List[_Line]]:
    """
    The item an open multi-line value gives now and the lines to read again. The item is None
    while the value may still continue, unless `ended` says why it cannot (then it is an error).
    """
    text = "".join(line.text or "" for line in open_lines)
    first = open_lines[0]
    try:
        return {"line": first.number, "record": json.loads(text)}, []
    except RecursionError:
        return {"line": first.number, "error": TOO_DEEP}, []
    except json.JSONDecodeError as error:
        if _ended_too_early(error, text):
            return (None if ended is None else _open_value_error(first, ended)), []
        # The first line alone was a valid beginning, so the value broke on a later line. All the
        # lines after the first are read again: any of them may be a good line of its own.
        broken_line = open_lines[max(1, error.lineno - 1)]
        reason = f"line {broken_line.number} cannot continue it ({error.msg}, column {error.colno})"
        return _open_value_error(first, reason), open_lines[1:]


def _open_value_error(first: _Line, reason: str) -> Dict[str, Any]:
    message = f"not valid JSON: the value that starts on this line is not complete: {reason}"
    return {"line": first.number, "error": message}
