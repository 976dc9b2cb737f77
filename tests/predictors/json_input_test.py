"""
How `allennlp predict`'s input is cut into JSON values: nothing merged, skipped or lost.
"""

import json

from hint_allennlp.predictors.json_input import json_input_items
from tests import SNI_FIXTURES


def items(text: bytes):
    return list(json_input_items(text.splitlines(keepends=True)))


def test_a_lone_brace_is_an_error_of_its_line_and_the_lines_after_it_are_read():
    """Item 1: a line that is only `{` used to swallow every line after it."""
    got = items(b'{"n": 1}\n{\n{"n": 2}\n{"n": 3}\n')
    assert [item.get("record") for item in got] == [{"n": 1}, None, {"n": 2}, {"n": 3}]
    assert got[1]["line"] == 2 and "line 3 cannot continue it" in got[1]["error"]


def test_a_truncated_json_line_followed_by_a_good_one():
    got = items(b'{"n": 1,\n{"n": 2}\n')
    assert got[0]["line"] == 1 and "not complete" in got[0]["error"]
    assert got[1] == {"line": 2, "record": {"n": 2}}


def test_a_pretty_printed_value_is_one_item_on_its_first_line():
    task = json.dumps(
        {"Definition": ["Copy."], "Instances": [{"input": "a", "output": ["a"]}]}, indent=2
    )
    got = items(b"\n" + task.encode() + b'\n{"n": 1}\n')
    assert got[0]["line"] == 2 and got[0]["record"]["Definition"] == ["Copy."]
    assert got[1] == {"line": 2 + len(task.splitlines()), "record": {"n": 1}}


def test_a_truncated_pretty_printed_task_file_is_reported_on_its_first_line():
    """Item 2: `head -c 2000` of a task file used to give no output and no message."""
    truncated = (SNI_FIXTURES / "tasks" / "task1146_country_capital.json").read_bytes()[:2000]
    (item,) = items(truncated)
    assert item["line"] == 1 and "not closed at the end of the input" in item["error"]


def test_bytes_that_are_not_utf8_are_an_error_of_their_line_only():
    """Item 4: a raw UnicodeDecodeError used to end the run, losing the good lines too."""
    got = items(b'{"n": 1}\n{"n": "\xff"}\n{"n": 3}\n')
    assert got[0]["record"] == {"n": 1} and got[2]["record"] == {"n": 3}
    assert got[1]["line"] == 2 and "not UTF-8" in got[1]["error"]


def test_line_numbers_are_physical():
    """Item 8: errors used to count only non-blank lines."""
    got = items(b'{"n": 1}\n\n   \nnot json\n')
    assert got[1]["line"] == 4


def test_lines_read_into_an_open_value_before_an_undecodable_line_are_read_again():
    got = items(b'{"n": 1, "text": "truncated"\n{"n": 2}\n\xff\n{"n": 3}\n')
    assert [item["line"] for item in got] == [1, 2, 3, 4]
    assert got[1]["record"] == {"n": 2} and "not UTF-8" in got[2]["error"]
