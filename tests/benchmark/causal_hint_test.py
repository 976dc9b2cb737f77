"""The causal-LM side-by-side (`benchmark/causal_hint.py`) in one tiny run, no timing asserted."""

from benchmark.__main__ import main
from benchmark.causal_hint import SETTINGS


def test_every_setting_is_measured_side_by_side(capsys):
    main(
        [
            "causal_hint",
            "--width",
            "32",
            "--layers",
            "1",
            "--heads",
            "2",
            "--kv-heads",
            "1",
            "--examples",
            "2",
            "--repeats",
            "1",
        ]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == list(SETTINGS)
    kept = {
        row.split(" | ")[0].lstrip("| "): int(row.split(" | ")[3].replace(",", "")) for row in rows
    }
    assert kept["full concatenation"] == 0
    # The generated modules alone are smaller than the instruction's keys and values.
    assert 0 < kept["HINT − fusion"] < kept["instruction KV cache"] < kept["HINT + fusion"]
