import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

from hint_allennlp.commands.compile_tasks import compile_tasks
from tests import FIXTURES_ROOT, PROJECT_ROOT

ALLENNLP = str(Path(sys.executable).parent / "allennlp")
SNI_TASK = FIXTURES_ROOT / "sni" / "tasks" / "task1146_country_capital.json"
JSONL_TASKS = FIXTURES_ROOT / "jsonl" / "tasks.jsonl"


def allennlp_predict(archive, input_file: Path, output_file: Path, *options: str):
    """The real `allennlp predict` (plugin from .allennlp_plugins): (output lines, its stderr)."""
    command = [
        ALLENNLP,
        "predict",
        str(archive),
        str(input_file),
        "--output-file",
        str(output_file),
    ]
    result = subprocess.run(
        [*command, "--silent", *options],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = output_file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines], result.stderr


def predictor(archive, **arguments) -> Predictor:
    return Predictor.from_archive(load_archive(archive), "hint_instruction", extra_args=arguments)


def count_hypernetwork_rows(model):
    """Counts the instructions the hypernetwork encodes (rows of its input batches)."""
    counted = {"rows": 0}

    def count(module, inputs, output):
        counted["rows"] += inputs[0].size(0)

    model.hypernetwork.register_forward_hook(count)
    return counted


def many_inputs(repeats=5):
    """JSON lines mixing two tasks, each asked many times."""
    return [
        {"instruction": instruction, "input": f"{word} {number}", "task": task}
        for number in range(repeats)
        for task, instruction, word in [
            ("capital", "Give the capital of the country.", "France"),
            ("antonym", "Give the antonym of the word.", "hot"),
        ]
    ]


def predictions(predictor_, items, batch_size=3):
    lines = []
    for start in range(0, len(items), batch_size):
        batch = [
            {"line": start + n, "record": item}
            for n, item in enumerate(items[start : start + batch_size])
        ]
        for output in predictor_.predict_batch_json(batch):
            lines += output["lines"]
    return lines


def test_hypernetwork_runs_once_per_distinct_instruction(trained_archive):
    cached = predictor(trained_archive)
    counter = count_hypernetwork_rows(cached._model)
    lines = predictions(cached, many_inputs())
    assert len(lines) == 10
    assert counter["rows"] == 2


def test_predictions_with_cache_equal_predictions_without(trained_archive):
    # One task per batch, so that both runs compute each instruction from the same tensor: the
    # fixture model is barely trained and its near-tied logits would let greedy decoding amplify
    # float rounding from other batch shapes (tests/models checks mixed batches with a tolerance).
    items = sorted(many_inputs(), key=lambda item: item["task"])
    uncached = predictor(trained_archive, cache_size=0)
    counter = count_hypernetwork_rows(uncached._model)
    without_cache = predictions(uncached, items, batch_size=5)
    assert counter["rows"] == 2 * 1  # two batches, one instruction each: once per batch
    cached = predictor(trained_archive)
    counter = count_hypernetwork_rows(cached._model)
    assert predictions(cached, items + items, batch_size=5) == without_cache + without_cache
    assert counter["rows"] == 2  # the second pass over both tasks comes from the cache


def test_compiled_tasks_predict_like_live_ones_without_the_hypernetwork(trained_archive, tmp_path):
    compile_tasks(str(trained_archive), str(SNI_TASK), str(tmp_path))
    compiled_file = tmp_path / f"{SNI_TASK.stem}.hint.pt"
    assert compiled_file.stat().st_size < 100_000
    task = json.loads(SNI_TASK.read_text())
    items = [
        {"task": SNI_TASK.stem, "input": instance["input"]} for instance in task["Instances"][:6]
    ]

    compiled = predictor(trained_archive, compiled_tasks=[str(tmp_path)], cache_size=0)
    counter = count_hypernetwork_rows(compiled._model)
    compiled_lines = predictions(compiled, items, batch_size=6)
    assert counter["rows"] == 0
    # The same six inputs in one batch, from the task file itself (the hypernetwork runs).
    live_task = dict(task, Instances=task["Instances"][:6])
    live_lines = predictor(trained_archive).predict_batch_json([{"record": live_task, "line": 1}])[
        0
    ]["lines"]
    assert [line["prediction"] for line in compiled_lines] == [
        line["prediction"] for line in live_lines
    ]


def test_a_task_compiled_from_a_json_line_predicts_as_the_same_request(trained_archive, tmp_path):
    record = {
        "task": "capital",
        "instruction": "Give the capital of the country.",
        "positive_examples": [{"input": "India", "output": "New Delhi"}],
    }
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(record) + "\n")
    compile_tasks(str(trained_archive), str(tasks), str(tmp_path / "compiled"))
    inputs = ["France", "Peru", "Japan"]
    compiled = predictor(trained_archive, compiled_tasks=[str(tmp_path / "compiled")], cache_size=0)
    counter = count_hypernetwork_rows(compiled._model)
    compiled_lines = predictions(compiled, [{"task": "capital", "input": text} for text in inputs])
    assert counter["rows"] == 0
    live_lines = predictions(
        predictor(trained_archive), [{**record, "input": text} for text in inputs]
    )
    assert compiled_lines == live_lines


def test_a_task_compiled_by_another_model_is_refused(trained_archive, tmp_path):
    compile_tasks(str(trained_archive), str(SNI_TASK), str(tmp_path))
    other = load_archive(trained_archive)
    with torch.no_grad():
        next(other.model.parameters()).add_(1.0)
    with pytest.raises(ConfigurationError, match="compiled by a different model"):
        Predictor.from_archive(
            other, "hint_instruction", extra_args={"compiled_tasks": [str(tmp_path)]}
        )


def test_bad_lines_get_an_error_and_the_others_their_predictions(trained_archive):
    lines = [
        '{"instruction": "Copy the input.", "input": "a b"}',
        '{"input": "no instruction here"}',
        '{"instruction": "Copy the input.", "input": 42}',
        '{"instruction": "Copy the input.", "input": "c d",',
        '["not", "an", "object"]',
        '{"instruction": "Copy the input.", "input": "e f"}',
    ]
    predictor_ = predictor(trained_archive)
    outputs = predictor_.predict_batch_json([predictor_.load_line(line) for line in lines])
    dumped = [predictor_.dump_line(output) for output in outputs]
    results = [json.loads(text) for text in dumped]
    assert "prediction" in results[0] and "prediction" in results[5]
    assert "no 'instruction'" in results[1]["error"] and results[1]["line"] == 2
    assert "'input' must be a string" in results[2]["error"]
    assert "not valid JSON" in results[3]["error"]
    assert "expected a JSON object" in results[4]["error"]


def test_allennlp_predict_on_an_sni_task_file_and_on_json_lines(trained_archive, tmp_path):
    for input_file, expected_lines in [
        (SNI_TASK, 20),
        (JSONL_TASKS, len(JSONL_TASKS.read_text().splitlines())),
    ]:
        output_file = tmp_path / f"{input_file.stem}.predictions.jsonl"
        lines, _ = allennlp_predict(trained_archive, input_file, output_file, "--batch-size", "4")
        assert len(lines) == expected_lines
        assert all("prediction" in line and line["task"] for line in lines)
        if input_file == SNI_TASK:
            # Issue 14, item 9: named after the file, like the SNI reader names it (was "sni_task").
            assert {line["task"] for line in lines} == {SNI_TASK.stem}


def test_output_lines_keep_missing_ids_as_null(trained_archive):
    predictor_ = predictor(trained_archive)
    output = predictor_.predict_json(
        {"record": {"instruction": "Copy the input.", "input": "a b"}, "line": 1}
    )
    (line,) = output["lines"]
    assert line["id"] is None and line["task"] == "" and isinstance(line["prediction"], str)


def test_allennlp_predict_with_the_dataset_reader(trained_archive, tmp_path):
    output_file = tmp_path / "predictions.jsonl"
    lines, _ = allennlp_predict(trained_archive, SNI_TASK, output_file, "--use-dataset-reader")
    # The archive's reader keeps 2 instances per task (the fixture experiment's setting).
    assert [line["task"] for line in lines] == [SNI_TASK.stem] * 2
    assert all(isinstance(line["prediction"], str) and line["references"] for line in lines)


def fault_injection_input(line_pairs=110):
    """
    A predict input mixing good JSON lines (each with its physical line as id) with every kind of
    bad line of issue 14 and blank lines. Returns the bytes and, per physical line, "good", "bad"
    or "blank".
    """
    bad_lines = [
        b"{",  # item 1: used to swallow every later line
        b'{"instruction": "Copy the input.", "input": "truncated"',
        b'{"instruction": "Copy the input.", "input": "caf\xe9 \xff"}',  # item 4: not UTF-8
        b"not json at all",
        b"[1, 2, 3]",
        b'{"input": "no instruction, no compiled task"}',
        b'{"instruction": "Copy the input.", "input": 42}',
        b'{"instruction": "  ", "input": "empty instruction"}',
        b'{"instruction": "Copy the input.", "input": "x"} trailing',
    ]
    rng = random.Random(0)
    lines, kinds = [], []
    for _ in range(line_pairs):
        for kind in rng.choices(["good", "bad", "blank"], weights=[4, 5, 1], k=2):
            physical = len(lines) + 1
            if kind == "good":
                words = " ".join(
                    rng.choice(["red", "blue", "sky", "sea"]) for _ in range(rng.randint(1, 5))
                )
                # One input over the reader's 1,024-token limit: predicted, its truncation reported.
                if kinds.count("good") == 7:
                    words = "very " * 1100
                record = {"instruction": "Copy the input.", "input": words, "id": f"L{physical}"}
                lines.append(json.dumps(record).encode())
            elif kind == "bad":
                lines.append(rng.choice(bad_lines))
            else:
                lines.append(rng.choice([b"", b"   "]))
            kinds.append(kind)
    return b"\n".join(lines) + b"\n", kinds


def test_allennlp_predict_on_a_fault_injected_input_loses_no_line(trained_archive, tmp_path):
    """
    Issue 14: every non-blank input line gives exactly one output line, in order; every good line is
    predicted; every bad line's error names its physical line; blank lines give none.
    """
    data, kinds = fault_injection_input()
    assert len(kinds) >= 200 and kinds.count("bad") >= 50 and kinds.count("good") >= 50
    input_file, output_file = tmp_path / "mixed.jsonl", tmp_path / "mixed.predictions.jsonl"
    input_file.write_bytes(data)
    outputs, stderr = allennlp_predict(
        trained_archive, input_file, output_file, "--batch-size", "32"
    )
    expected = [(physical, kind) for physical, kind in enumerate(kinds, start=1) if kind != "blank"]
    assert len(outputs) == len(expected)
    for (physical, kind), output in zip(expected, outputs):
        if kind == "good":
            assert output["id"] == f"L{physical}" and isinstance(output["prediction"], str)
        else:
            assert output["line"] == physical and f"line {physical}:" in output["error"], output
    # Truncation is reported once, with its limit; HF's "> 512 ... indexing errors" is not shown.
    assert stderr.count("truncated to max_source_tokens = 1024 tokens: 1") == 1
    assert "indexing errors" not in stderr


def test_a_damaged_compiled_task_is_refused_naming_the_file(trained_archive, tmp_path):
    """Issue 14, item 3: 64 flipped bytes in a tensor of a compiled task used to load silently."""
    compile_tasks(str(trained_archive), str(SNI_TASK), str(tmp_path))
    (path,) = tmp_path.glob("*.hint.pt")
    largest = max(torch.load(path, weights_only=True)["tensors"].values(), key=torch.Tensor.numel)
    data = bytearray(path.read_bytes())
    start = data.find(largest.contiguous().view(torch.uint8).numpy().tobytes()[:256])
    assert start > 0
    data[start : start + 64] = bytes(byte ^ 0xFF for byte in data[start : start + 64])
    path.write_bytes(bytes(data))
    with pytest.raises(
        ConfigurationError, match="do not match their checksum.*compile the task again"
    ) as refused:
        predictor(trained_archive, compiled_tasks=[str(tmp_path)])
    assert str(path) in str(refused.value)
