"""
Smoke tests of `python -m benchmark cost` on the tiny model with minimal repeats:
no timing assertions.
"""

import json

import pytest
from allennlp.models.archival import load_archive

from benchmark.__main__ import main
from benchmark.inference import SniShape, instruction_chunk_lengths
from benchmark.report import Target
from benchmark.timing import Measurement, interleaved, paired_ratio
from benchmark.training import TRAINING_SETTINGS, job_key
from tests import PROJECT_ROOT, SNI_FIXTURES


def run_command(monkeypatch, *arguments: str) -> None:
    main(["cost", *arguments])


@pytest.mark.slow
def test_cost_benchmarks_write_tables_figure_and_targets(tmp_path, monkeypatch):
    run_command(
        monkeypatch,
        "--models", "tiny",
        "--shots", "0,2,5",
        "--examples", "2",
        "--repeats", "1",
        "--warmup", "0",
        "--train-batch-size", "1",
        "--train-repeats", "1",
        "--devices", "cpu",
        "--output-dir", str(tmp_path),
    )  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    tiny = results["models"]["tiny"]
    assert {(row["setting"], row["shots"]) for row in tiny["inference_cpu"]} == {
        (setting, shots)
        for setting in ("hint", "hint_cached", "floor", "tk_instruct")
        for shots in (0, 2, 5)
    }
    assert all(len(row["wall"]) == 1 and row["flops"] > 0 for row in tiny["inference_cpu"])
    assert set(tiny["training_cpu"]) == {"hint", "tk_instruct"}
    assert [row["instruction_length"] for row in tiny["memory"]] == [69, 197, 389]
    # The targets are set for the small model: on the tiny one they are reported, not judged.
    assert len(results["targets"]) == 4 and not any(
        target["binding"] for target in results["targets"]
    )
    markdown = (tmp_path / "results.md").read_text()
    assert "Tk-Instruct / HINT" in markdown and "figure4_tiny.png" in markdown
    assert (tmp_path / "figure4_tiny.png").stat().st_size > 0


@pytest.mark.slow
def test_training_is_timed_on_mixed_and_task_grouped_batches(tmp_path, monkeypatch):
    run_command(
        monkeypatch,
        "--models", "tiny",
        "--parts", "training",
        "--train-batch-size", "4",
        "--train-tasks-per-batch", "1,2",
        "--train-repeats", "1",
        "--warmup", "0",
        "--devices", "cpu",
        "--output-dir", str(tmp_path),
    )  # fmt: skip
    tiny = json.loads((tmp_path / "results.json").read_text())["models"]["tiny"]
    keys = {job_key(setting, tasks) for setting in TRAINING_SETTINGS for tasks in (None, 1, 2)}
    assert set(tiny["training_cpu"]) == set(tiny["training_flops_cpu"]) == keys
    flops = tiny["training_flops_cpu"]
    # Tk-Instruct reads every example's instruction whatever the batch; HINT's hypernetwork runs
    # once per task in the batch: 4, 2, 1 times.
    assert flops["tk_instruct"] == flops[job_key("tk_instruct", 1)]
    assert flops["hint"] > flops[job_key("hint", 2)] > flops[job_key("hint", 1)]
    per_instruction = flops[job_key("hint", 2)] - flops[job_key("hint", 1)]
    assert flops["hint"] - flops[job_key("hint", 1)] == pytest.approx(3 * per_instruction)
    assert "batches of g tasks" in (tmp_path / "results.md").read_text()


def test_many_shots_past_the_window_reach_hint_in_chunks(tmp_path, monkeypatch):
    # A window of 300 tokens: 0 shots (69 tokens) and 2 (197) fit it with the instance (44), 5
    # (389) is in 2 chunks and leaves Tk-Instruct out.
    run_command(
        monkeypatch,
        "--models", "tiny",
        "--parts", "inference,memory",
        "--shots", "0,2,5",
        "--instruction-window", "300",
        "--inference-settings", "hint,hint_without_fusion,tk_instruct",
        "--examples", "2",
        "--repeats", "1",
        "--warmup", "0",
        "--devices", "cpu",
        "--output-dir", str(tmp_path),
    )  # fmt: skip
    tiny = json.loads((tmp_path / "results.json").read_text())["models"]["tiny"]
    rows = {(row["setting"], row["shots"]): row for row in tiny["inference_cpu"]}
    assert set(rows) == {
        *((setting, shots) for setting in ("hint", "hint_without_fusion") for shots in (0, 2, 5)),
        ("tk_instruct", 0),
        ("tk_instruct", 2),
    }
    assert [rows[("hint", shots)]["instruction_chunks"] for shots in (0, 2, 5)] == [1, 1, 2]
    assert rows[("hint", 5)]["flops"] > rows[("hint_without_fusion", 5)]["flops"]
    # What a task keeps grows with its tokens, chunked or not.
    assert [row["instruction_length"] for row in tiny["memory"]] == [69, 197, 389]
    assert tiny["memory"][2]["hint_measured"] > tiny["memory"][1]["hint_measured"]
    assert "Many shots, cpu" in (tmp_path / "results.md").read_text()


def test_instruction_chunk_lengths_pack_the_shots_within_the_window():
    shape = SniShape()  # definition 69 tokens, 64 per shot
    assert instruction_chunk_lengths(shape, 2, None) == [197]
    assert instruction_chunk_lengths(shape, 2, 1024) == [197]
    assert instruction_chunk_lengths(shape, 32, 1024) == [69 + 14 * 64, 16 * 64, 2 * 64]
    assert sum(instruction_chunk_lengths(shape, 64, 1024)) == shape.instruction_length(64)


@pytest.mark.slow
def test_generalisation_trains_and_evaluates_every_setting(tmp_path, monkeypatch):
    run_command(
        monkeypatch,
        "--generalisation",
        "--generalisation-model", "tiny",
        "--sni-dir", str(SNI_FIXTURES),
        "--epochs", "1",
        "--train-instances-per-task", "2",
        "--test-instances-per-task", "4",
        "--max-decoding-steps", "2",
        "--output-dir", str(tmp_path),
    )  # fmt: skip
    rows = json.loads((tmp_path / "generalisation.json").read_text())["rows"]
    assert [row["setting"] for row in rows] == ["hint", "tk_instruct", "no_instruct"]
    relative_flops = {row["setting"]: row["relative_flops"] for row in rows}
    assert relative_flops["tk_instruct"] == pytest.approx(1.0)
    assert relative_flops["no_instruct"] < relative_flops["hint"] < 1.0
    assert all(row["train_instances"] == 16 and row["test_instances"] == 16 for row in rows)
    assert "RougeL" in (tmp_path / "generalisation.md").read_text()
    # The trained models stay usable: their archives find the checkpoint they were built on.
    archive = load_archive(str(tmp_path / "generalisation" / "hint" / "model.tar.gz"))
    assert archive.model.instruction_fusion


@pytest.mark.parametrize(
    "shots, length", [(0, 69), (1, 133), (2, 197), (3, 261), (4, 325), (5, 389)]
)
def test_instruction_grows_by_the_per_shot_increment_of_sni_medians(shots, length):
    assert SniShape().instruction_length(shots) == length


def test_ratios_are_taken_round_by_round():
    calls = []
    measurements = interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=2, warmup=1
    )
    assert calls == ["a", "b", "a", "b", "b", "a"]  # warm-up, then forward and reverse rounds
    numerator = Measurement(wall=[2.0, 9.0, 4.0], cpu=[1, 1, 1])
    denominator = Measurement(wall=[1.0, 3.0, 1.0], cpu=[1, 1, 1])
    assert (
        paired_ratio(numerator, denominator) == 3.0
    )  # median of 2, 3, 4; the ratio of medians would be 4
    assert {len(measurement.wall) for measurement in measurements.values()} == {2}


@pytest.mark.parametrize(
    "target, verdict",
    [
        (Target("faster", wall=5.5, cpu=5.0, comparison=">=", bound=5.0), "met"),
        (Target("faster", wall=4.5, cpu=5.0, comparison=">=", bound=5.0), "MISSED"),
        (Target("within", wall=1.2, cpu=1.0, comparison="<=", bound=1.15), "MISSED"),
        (
            Target("within", wall=1.2, cpu=1.0, comparison="<=", bound=1.15, binding=False),
            "for reference",
        ),
    ],
)
def test_targets_are_judged_on_wall_time(target, verdict):
    assert target.verdict == verdict


def _recorded_ratio(table: str, row: str, column: int) -> float:
    """A wall-time ratio of docs/benchmarks.md's results: `column` of the table row `row`."""
    line = next(line for line in table.splitlines() if line.startswith(f"| {row} |"))
    return float(line.split("|")[column + 1].split()[0])


def test_the_readme_quotes_the_recorded_results():
    results = (PROJECT_ROOT / "docs" / "benchmarks.md").read_text()
    faster = _recorded_ratio(results, "small, cpu: Tk-Instruct / HINT time, 2 shots", 1)
    floor = _recorded_ratio(results, "small, cpu: HINT / floor time, 2 shots", 1)
    shots = _recorded_ratio(results, "small, cpu: HINT time, 5 shots / 0 shots", 1)
    at_five = _recorded_ratio(results, "5", 6)  # the small model's inference table comes first
    paragraph = " ".join((PROJECT_ROOT / "README.md").read_text().split())
    assert (
        f"HINT is {faster:.1f}× faster than Tk-Instruct ({at_five:.0f}× at 5 shots) and within "
        f"{floor:.2f}× of the floor" in paragraph
    )
    assert f"5 shots cost {shots:.2f}× of 0 shots" in paragraph
