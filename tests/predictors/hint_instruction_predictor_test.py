import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

from hint_allennlp.commands.compile_tasks import compile_tasks
from hint_allennlp.data.file_reading import DataFormatError
from hint_allennlp.predictors.json_input import TOO_DEEP
from tests import FIXTURES_ROOT, PROJECT_ROOT, run_allennlp

# Every test here trains, runs an AllenNLP command or starts processes.
pytestmark = pytest.mark.slow

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
    """The output lines of the items (as lines 1, 2, ...), without their `line`."""
    lines = []
    for start in range(0, len(items), batch_size):
        batch = [
            {"line": start + n + 1, "record": item}
            for n, item in enumerate(items[start : start + batch_size])
        ]
        for output in predictor_.predict_batch_json(batch):
            lines += [without_line(line) for line in output["lines"]]
    return lines


def without_line(output_line):
    return {key: value for key, value in output_line.items() if key != "line"}


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
    assert [result["line"] for result in results] == [1, 2, 3, 4, 5, 6]


def test_an_sni_task_object_lacking_definition_or_instances_is_refused_naming_the_key(
    trained_archive,
):
    """Both used to be read as instruction records: "missing key 'input'"."""
    predictor_ = predictor(trained_archive)
    for record, key in [
        ({"Instances": [{"input": "a", "output": "a"}]}, "Definition"),
        ({"Definition": ["Copy the input."], "Positive Examples": []}, "Instances"),
    ]:
        output = predictor_.predict_json({"record": record, "line": 3, "source": "t.json"})
        assert output["lines"] == [{"line": 3, "error": f"t.json, line 3: missing key {key!r}."}]


def test_instances_with_and_without_outputs_are_predicted_in_one_batch(trained_archive):
    """
    Targets are optional per instance: an SNI instance without `output` (or an instruction
    record) batched with ones that have one used to abort the whole input ("non-homogeneous
    Instances"), giving no line at all.
    """
    task = json.loads(SNI_TASK.read_text())
    instances = task["Instances"][:4]
    instances[1] = without_key(instances[1], "output")
    instances[2] = {**instances[2], "output": []}
    inputs = [
        {"record": {**task, "Instances": instances}, "line": 1},
        {"record": {"instruction": "Copy the input.", "input": "a b"}, "line": 2},
    ]
    predictor_ = predictor(trained_archive)
    sni_lines, (json_line,) = [output["lines"] for output in predictor_.predict_batch_json(inputs)]
    assert [line["instance"] for line in sni_lines] == [0, 1, 2, 3]
    assert [line.get("references") for line in sni_lines] == [
        instances[0]["output"],
        None,
        None,
        instances[3]["output"],
    ]
    assert all(isinstance(line["prediction"], str) for line in sni_lines + [json_line])


def without_key(record, key):
    return {name: value for name, value in record.items() if name != key}


def test_fail_on_error_makes_failed_lines_a_failure_once_all_are_written(trained_archive, tmp_path):
    input_file, output_file = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    input_file.write_text('{"instruction": "Copy the input.", "input": "a"}\n\n{"input": 1}\n')
    with pytest.raises(
        DataFormatError,
        match=r"in.jsonl: 1 of 2 output lines failed \(the predictor's fail_on_error",
    ):
        run_allennlp(
            "predict",
            str(trained_archive),
            str(input_file),
            "--output-file",
            str(output_file),
            "--silent",
            "--predictor-args",
            '{"fail_on_error": true}',
        )
    written = [json.loads(line) for line in output_file.read_text().splitlines()]
    assert [line["line"] for line in written] == [1, 3]
    assert "prediction" in written[0] and "error" in written[1]


@pytest.mark.parametrize(
    "content, message",
    [(b"", "the input is empty"), (b"\n  \n\n", "its 3 lines are blank")],
    ids=["empty", "blank lines"],
)
def test_an_input_with_nothing_to_predict_is_refused(trained_archive, tmp_path, content, message):
    """An empty SNI task file used to give an empty output and exit 0; the reader refuses it."""
    input_file = tmp_path / "task_empty.json"
    input_file.write_bytes(content)
    with pytest.raises(DataFormatError, match=f"task_empty.json: nothing to predict: {message}"):
        run_allennlp(
            "predict",
            str(trained_archive),
            str(input_file),
            "--output-file",
            str(tmp_path / "out.jsonl"),
            "--silent",
        )


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
            # Named after the file, like the SNI reader names it (was "sni_task").
            assert {line["task"] for line in lines} == {SNI_TASK.stem}


def test_output_lines_keep_missing_ids_as_null(trained_archive):
    predictor_ = predictor(trained_archive)
    output = predictor_.predict_json(
        {"record": {"instruction": "Copy the input.", "input": "a b"}, "line": 1}
    )
    (line,) = output["lines"]
    assert line["id"] is None and line["task"] == "" and isinstance(line["prediction"], str)
    assert line["line"] == 1


def test_allennlp_predict_with_the_dataset_reader(trained_archive, tmp_path):
    output_file = tmp_path / "predictions.jsonl"
    lines, _ = allennlp_predict(trained_archive, SNI_TASK, output_file, "--use-dataset-reader")
    # The archive's reader keeps 2 instances per task (the fixture experiment's setting).
    assert [line["task"] for line in lines] == [SNI_TASK.stem] * 2
    assert all(isinstance(line["prediction"], str) and line["references"] for line in lines)
    # The reader does not say where an instance comes from.
    assert all(line["line"] is None for line in lines)


def predicted(id_, references=None, instance=None):
    """An expected output line with a prediction (`instance`: of an SNI task object)."""
    return {"id": id_, "references": references, "instance": instance}


def failed(text, instance=None):
    """An expected error line, whose error holds `text`."""
    return {"error": text, "instance": instance}


def sni_task_line(physical):
    """
    One-line SNI task objects of every kind with what each gives: instances with and without
    outputs (predicted each on its own, targets optional) and a bad one; repeated ids (predicted,
    with a warning); a missing Definition or Instances (named, as the reader names them); no
    instances.
    """
    copy = ["Copy the input."]
    return [
        (
            {
                "Definition": copy,
                "Instances": [
                    {"id": f"S{physical}-0", "input": "red sky", "output": ["red sky"]},
                    {"id": f"S{physical}-1", "input": "blue sea"},
                    {"id": f"S{physical}-2", "input": "sea", "output": None},
                    {"id": f"S{physical}-3", "input": 42, "output": "42"},
                ],
            },
            [
                predicted(f"S{physical}-0", ["red sky"], instance=0),
                predicted(f"S{physical}-1", instance=1),
                predicted(f"S{physical}-2", instance=2),
                failed("Instances[3]: 'input' must be a string", instance=3),
            ],
        ),
        (
            {
                "Definition": copy,
                "Instances": [
                    {"id": "R", "input": "red", "output": "red"},
                    {"id": "R", "input": "blue"},
                ],
            },
            [predicted("R", ["red"], instance=0), predicted("R", instance=1)],
        ),
        ({"Instances": [{"input": "red"}]}, [failed("missing key 'Definition'.")]),
        ({"Definition": copy, "Positive Examples": []}, [failed("missing key 'Instances'.")]),
        ({"Definition": copy, "Instances": []}, [failed("'Instances' is empty")]),
    ]


def fault_injection_input(line_pairs=110):
    """
    A predict input mixing good JSON lines (each with its physical line as id), every kind of bad
    line, one-line SNI task objects good and bad (`sni_task_line`) and blank lines; the file
    starts with a UTF-8 byte-order mark. Returns the bytes, each physical line's kind ("good",
    "bad", "sni" or "blank") and the output lines each must give (`predicted`, `failed`).
    """
    bad_lines = [
        b"{",  # used to swallow every later line
        b'{"instruction": "Copy the input.", "input": "truncated"',
        b'{"instruction": "Copy the input.", "input": "caf\xe9 \xff"}',  # not UTF-8
        b"not json at all",
        b"[1, 2, 3]",
        b'{"input": "no instruction, no compiled task"}',
        b'{"instruction": "Copy the input.", "input": 42}',
        b'{"instruction": "  ", "input": "empty instruction"}',
        b'{"instruction": "Copy the input.", "input": "x"} trailing',
    ]
    rng = random.Random(0)
    lines, kinds, expected = [], [], []
    for _ in range(line_pairs):
        for kind in rng.choices(["good", "bad", "sni", "blank"], weights=[4, 5, 1, 1], k=2):
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
                outputs = [predicted(f"L{physical}")]
            elif kind == "bad":
                lines.append(rng.choice(bad_lines))
                outputs = [failed(f"line {physical}:")]
            elif kind == "sni":
                record, outputs = rng.choice(sni_task_line(physical))
                lines.append(json.dumps(record).encode())
            else:
                lines.append(rng.choice([b"", b"   "]))
                outputs = []
            kinds.append(kind)
            expected.append(outputs)
    return b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n", kinds, expected


def test_allennlp_predict_on_a_fault_injected_input_loses_no_line(trained_archive, tmp_path):
    """
    Every non-blank input line gives its output lines (one, or one per instance of an SNI task
    object), in order, each with its physical `line`; every good line and instance is predicted,
    each on its own; every bad one's error names its line; blank lines give none. The summary
    counts them, and an existing output file is overwritten with a word.
    """
    data, kinds, expected = fault_injection_input()
    # The figures that docs/data_and_prediction.md gives.
    kind_counts = [kinds.count(kind) for kind in ("good", "bad", "sni", "blank")]
    assert len(kinds) == 220 and kind_counts == [75, 106, 25, 14]
    assert kinds[0] != "blank"  # the byte-order mark starts a JSON value
    input_file, output_file = tmp_path / "mixed.jsonl", tmp_path / "mixed.predictions.jsonl"
    input_file.write_bytes(data)
    output_file.write_text("an earlier run's output\n")
    outputs, stderr = allennlp_predict(
        trained_archive, input_file, output_file, "--batch-size", "32"
    )
    expected_lines = [
        (physical, want) for physical, wanted in enumerate(expected, start=1) for want in wanted
    ]
    assert len(outputs) == len(expected_lines)
    for (physical, want), output in zip(expected_lines, outputs):
        assert output["line"] == physical and output.get("instance") == want["instance"], output
        if "error" in want:
            assert want["error"] in output["error"] and "prediction" not in output, output
        else:
            assert output["id"] == want["id"] and isinstance(output["prediction"], str), output
            assert output.get("references") == want["references"], output
    failures = sum("error" in want for _, want in expected_lines)
    assert (len(outputs), failures) == (233, 125)
    assert (
        f"{input_file}: 220 input lines read; {len(outputs) - failures} output lines predicted, "
        f'{failures} failed (lines with an "error").'
    ) in stderr
    assert f"Overwriting {output_file} (the --output-file exists)." in stderr
    assert "instances with the id of an earlier instance of the task: 1" in stderr
    # Truncation is reported once, with its limit; HF's "> 512 ... indexing errors" is not shown.
    assert stderr.count("truncated to max_source_tokens = 1024 tokens: 1") == 1
    assert "indexing errors" not in stderr


def test_a_damaged_compiled_task_is_refused_naming_the_file(trained_archive, tmp_path):
    """64 flipped bytes in a tensor of a compiled task used to load silently."""
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


def test_a_batch_size_below_one_is_refused(trained_archive):
    """The batch size of an SNI task object's instances, as `--batch-size` is of the input's."""
    with pytest.raises(ConfigurationError, match="batch_size must be at least 1, not 0"):
        predictor(trained_archive, batch_size=0)


def test_one_line_nested_too_deeply_gets_its_error_line_and_the_others_are_predicted(
    trained_archive, tmp_path, monkeypatch
):
    """A JSON line nested 100,000 deep used to abort the whole run with a RecursionError."""
    monkeypatch.chdir(tmp_path)
    request = {"instruction": "Return the capital city.", "input": "Albania"}
    Path("in.jsonl").write_text(
        json.dumps(request) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n" + json.dumps(request)
    )
    run_allennlp("predict", str(trained_archive), "in.jsonl", "--output-file", "out", "--silent")
    first, deep, last = [json.loads(line) for line in Path("out").read_text().splitlines()]
    assert deep == {"line": 2, "error": f"in.jsonl, line 2: {TOO_DEEP}"}
    assert first["prediction"] == last["prediction"] and first["line"] == 1 and last["line"] == 3


def test_a_negative_cache_size_is_refused(trained_archive, tmp_path):
    """`cache_size: -1` used to be accepted, turning the task cache off."""
    (tmp_path / "in.jsonl").write_text("{}\n")
    with pytest.raises(ConfigurationError, match="cache_size must be 0 .* not -1"):
        run_allennlp(
            "predict",
            str(trained_archive),
            str(tmp_path / "in.jsonl"),
            "--predictor-args",
            json.dumps({"cache_size": -1}),
        )


def test_a_decoder_only_archive_reports_the_instances_own_input(decoder_only_archive, tmp_path):
    """The `input` field used to hold the Tk-Instruct query ("Now complete the following ...")."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        json.dumps({"instruction": "Return the capital city.", "input": "Albania"})
        + "\n"
        + SNI_TASK.read_text().replace("\n", " ")
        + "\n"
    )
    output = tmp_path / "out"
    run_allennlp("predict", str(decoder_only_archive), str(inputs), "--output-file", str(output))
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    instances = json.loads(SNI_TASK.read_text())["Instances"]
    assert [line["input"] for line in lines] == ["Albania"] + [
        instance["input"] for instance in instances
    ]


def test_compiled_tasks_refused_for_a_model_that_compiles_nothing_and_when_damaged(
    trained_archive, tmp_path
):
    """
    A Tk-Instruct model used to ask for HINT's compiled tasks to be compiled again with its
    archive (`hint-compile` refuses it); a half-written .hint.pt used to fail with a raw
    `OSError [Errno 22] Invalid argument`.
    """
    compile_tasks(str(trained_archive), str(SNI_TASK), str(tmp_path))
    params = Params.from_file(str(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"))
    reader_params = params.pop("dataset_reader")
    reader_params["instruction_format"] = "tk_instruct"
    model_params = params.pop("model")
    model_params["parameter_generator"], model_params["instruction_fusion"] = None, False
    tk_instruct = Model.from_params(vocab=Vocabulary(), params=model_params)
    with pytest.raises(ConfigurationError) as refused:
        Predictor.by_name("hint_instruction")(
            tk_instruct, DatasetReader.from_params(reader_params), compiled_tasks=[str(tmp_path)]
        )
    message = str(refused.value)
    assert "has nothing to compile and serves no compiled task" in message
    assert "leave out compiled_tasks" in message and "compile it again" not in message

    (path,) = tmp_path.glob("*.hint.pt")
    # Half of its 34 kB: torch's zip reader then seeks before the file's start (its look-back for
    # the central directory is 64 kB), which gave the raw OSError.
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ConfigurationError) as refused:
        run_allennlp(
            "predict",
            str(trained_archive),
            str(SNI_TASK),
            "--predictor-args",
            json.dumps({"compiled_tasks": [str(path)]}),
        )
    assert str(refused.value).startswith(f"{path}: not a compiled task file (damaged, e.g. half")
