"""`python -m benchmark`: one command whose subcommands are the modules of `benchmark/`."""

import ast
from dataclasses import dataclass

import pytest

from benchmark.__main__ import SUBCOMMANDS, main, parser
from benchmark.harness import ResultRow, command_line
from benchmark.timing import Measurement
from tests import PROJECT_ROOT


def defines_a_subcommand(path) -> bool:
    functions = {
        node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)
    }
    return {"add_arguments", "run"} <= functions


def test_every_module_with_a_run_is_a_subcommand_and_none_has_a_main_of_its_own():
    modules = sorted((PROJECT_ROOT / "benchmark").glob("*.py"))
    assert {path.stem for path in modules if defines_a_subcommand(path)} == set(SUBCOMMANDS)
    assert [
        path.name
        for path in modules
        if path.name != "__main__.py" and '__name__ == "__main__"' in path.read_text()
    ] == []
    assert set(parser()._subparsers._group_actions[0].choices) == set(SUBCOMMANDS)


def test_a_subcommand_is_required(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "SUBCOMMAND" in capsys.readouterr().err


def test_the_recorded_command_reproduces_the_run():
    assert command_line(["cost", "--models", "tiny", "--sni-dir", "a b"]) == (
        "python -m benchmark cost --models tiny --sni-dir 'a b'"
    )


def test_a_row_s_json_holds_its_measurement_s_clocks_in_place_of_it():
    @dataclass
    class Row(ResultRow):
        setting: str
        measurement: Measurement
        flops: float

    row = Row("hint", Measurement(wall=[1.0], cpu=[2.0]), 3.0)
    assert list(row.to_json().items()) == [
        ("setting", "hint"),
        ("flops", 3.0),
        ("wall", [1.0]),
        ("cpu", [2.0]),
    ]
