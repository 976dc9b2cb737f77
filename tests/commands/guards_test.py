"""
Each guard in `hint_allennlp.commands.guards` has a test here that fails without it, and one that
it is needed on the stack in use and switches itself off where AllenNLP's command differs.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.commands import predict, train
from allennlp.common.checks import ConfigurationError

import hint_allennlp  # noqa: F401  (the guards applied)
from hint_allennlp.commands import guards
from hint_allennlp.compat import patches
from hint_allennlp.predictors.hint_instruction_predictor import HintInstructionPredictor
from tests import FIXTURES_ROOT, run_allennlp


def test_every_guard_is_needed_on_this_stack_and_applied_once():
    assert list(guards.GUARDS.registered) == [
        "move_predictions_into_place_when_done",
        "let_predictors_read_their_whole_input",
        "check_predict_arguments_before_loading_the_model",
        "check_evaluate_device_before_loading_the_model",
        "write_readable_evaluation_predictions",
        "refuse_trainer_keys_the_trainer_would_ignore",
    ]
    assert all(registered.versions for registered in guards.GUARDS.registered.values())
    # Applied when hint_allennlp was imported: none is needed again.
    assert guards.GUARDS.apply_all() == []


@pytest.mark.parametrize(
    "name",
    [
        "let_predictors_read_their_whole_input",
        "check_predict_arguments_before_loading_the_model",
        "check_evaluate_device_before_loading_the_model",
        "move_predictions_into_place_when_done",
        "write_readable_evaluation_predictions",
    ],
)
def test_a_guard_for_other_versions_is_not_applied(name, monkeypatch):
    monkeypatch.setattr(patches.allennlp.version, "VERSION", "2.9.3")
    monkeypatch.setattr(patches, "is_marked", lambda function: False)  # as if not applied yet
    assert not guards.GUARDS.registered[name].needed()


class WholeInputPredictor:
    """What `let_predictors_read_their_whole_input` looks for in a predictor."""

    _dataset_reader = None

    def __init__(self):
        self.received, self.reported = [], []

    def read_json_input(self, raw_lines, source):
        for number, line in enumerate(raw_lines, start=1):
            self.received.append(line)
            yield {"number": number}

    def report_input(self, source):
        self.reported.append(source)


def test_a_predictor_gets_its_whole_input_undecoded_and_its_end(tmp_path, monkeypatch):
    input_file = tmp_path / "input.jsonl"
    input_file.write_bytes(b'{"input": "a"}\n\n\xff\xfe not UTF-8\n')
    predictor = WholeInputPredictor()
    manager = predict._PredictManager(predictor, str(input_file), None, 8, False, False)
    monkeypatch.setattr(manager, "_predict_json", lambda batch: [{} for _ in batch])
    monkeypatch.setattr(manager, "_maybe_print_to_console_and_file", lambda *_: None)
    manager.run()
    # blank lines keep their place; bytes that are not UTF-8 reach the predictor as they are
    assert predictor.received == [b'{"input": "a"}\n', b"\n", b"\xff\xfe not UTF-8\n"]
    assert predictor.reported == [str(input_file)]


# The checks of command-line arguments come before the model loads: these commands name an archive
# that does not exist, so an error about it would mean that the model was loaded first.
NO_ARCHIVE = "no-such-model.tar.gz"
ALLENNLP = str(Path(sys.executable).parent / "allennlp")
# A device this machine does not have (0 on a machine without CUDA).
MISSING_CUDA_DEVICE = str(torch.cuda.device_count())


@pytest.mark.parametrize("batch_size", ["0", "-3"])
def test_predict_refuses_a_batch_size_below_one(tmp_path, batch_size):
    """`--batch-size 0` used to write no line and exit 0; -3 ended in a raw islice error."""
    (tmp_path / "in.jsonl").write_text('{"instruction": "Copy.", "input": "a"}\n')
    with pytest.raises(
        ConfigurationError, match=f"--batch-size must be at least 1, not {batch_size}"
    ):
        run_allennlp("predict", NO_ARCHIVE, str(tmp_path / "in.jsonl"), "--batch-size", batch_size)


def test_predict_refuses_a_directory_as_its_input_file(tmp_path):
    """It used to end in a raw IsADirectoryError; with the archive's reader a directory is input."""
    with pytest.raises(ConfigurationError, match="is a directory: `allennlp predict` reads one"):
        run_allennlp("predict", NO_ARCHIVE, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=NO_ARCHIVE):
        run_allennlp("predict", NO_ARCHIVE, str(tmp_path), "--use-dataset-reader")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_missing_cuda_device_is_refused_in_the_words_of_the_option(tmp_path, command):
    """
    predict used to advise overriding `trainer.cuda_device`, a training setting; evaluate loaded
    the model onto the device and failed in torch ("Found no NVIDIA driver").
    """
    (tmp_path / "in.jsonl").write_text("{}\n")
    with pytest.raises(ConfigurationError) as refused:
        run_allennlp(
            command, NO_ARCHIVE, str(tmp_path / "in.jsonl"), "--cuda-device", MISSING_CUDA_DEVICE
        )
    message = str(refused.value)
    assert message.startswith(f"--cuda-device {MISSING_CUDA_DEVICE}: this machine has")
    assert "--cuda-device -1 (the default) runs on the CPU" in message
    assert "trainer.cuda_device" not in message


@pytest.mark.slow
def test_the_argument_checks_apply_to_the_real_command_line(tmp_path):
    """
    The `allennlp` program imports the plugin after parsing its arguments: the checks must still
    run first. From a folder of the user's own, as a user runs it.
    """
    (tmp_path / ".allennlp_plugins").write_text("hint_allennlp\n")
    (tmp_path / "in.jsonl").write_text('{"instruction": "Copy.", "input": "a"}\n')
    for arguments, message in [
        (["predict", "--batch-size", "0"], "--batch-size must be at least 1, not 0"),
        (
            ["evaluate", "--cuda-device", MISSING_CUDA_DEVICE],
            f"--cuda-device {MISSING_CUDA_DEVICE}: this machine has",
        ),
    ]:
        command, *options = arguments
        result = subprocess.run(
            [ALLENNLP, command, NO_ARCHIVE, "in.jsonl", *options],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 1, result.stderr[-3000:]
        assert f"ConfigurationError: {message}" in result.stderr, result.stderr[-3000:]


def test_trainer_keys_that_the_trainer_would_ignore_are_refused():
    # GradientDescentTrainer takes **kwargs and drops what it does not know.
    guards.refuse_unknown_trainer_keys({"num_epochs": 2, "optimizer": {"type": "adam"}})
    guards.refuse_unknown_trainer_keys({"run_sanity_checks": False})  # what its kwargs are for
    with pytest.raises(ConfigurationError, match=r"\['num_epoch'\].*did you mean 'num_epochs'"):
        guards.refuse_unknown_trainer_keys({"num_epoch": 2})
    # Other trainers refuse unknown keys themselves (or take them on purpose).
    guards.refuse_unknown_trainer_keys({"type": "no_op", "anything": 1})


@pytest.mark.slow
def test_the_trainer_key_patch_is_needed_only_where_the_trainer_takes_any_key(monkeypatch):
    needed = guards.GUARDS.registered["refuse_trainer_keys_the_trainer_would_ignore"].needed
    monkeypatch.setattr(train, "train_model", train.train_model.__wrapped__)  # as if not applied
    assert needed()

    class StrictTrainer:
        @classmethod
        def from_partial_objects(cls, model, num_epochs: int = 20):
            """A trainer that refuses unknown keys itself."""

    monkeypatch.setattr(guards, "GradientDescentTrainer", StrictTrainer)
    assert not needed()


def instruction_lines(*inputs: str) -> str:
    return "".join(
        json.dumps({"instruction": "Return the capital city.", "input": text}) + "\n"
        for text in inputs
    )


@pytest.mark.slow
def test_predict_moves_its_output_into_place_only_once_complete(
    trained_archive, tmp_path, monkeypatch
):
    """
    Two `allennlp predict` runs writing the same --output-file used to leave a mixture of their
    lines: each emptied the file and wrote as it went. The file now holds the previous complete
    output until a run has written all of its lines, and a failed run leaves it as it was.
    """
    monkeypatch.chdir(tmp_path)
    Path("in.jsonl").write_text(instruction_lines("Albania", "France", "Peru"))
    Path("out.jsonl").write_text("the previous run's output\n")
    seen_while_predicting = []
    predict_batch_json = HintInstructionPredictor.predict_batch_json

    def predict_and_look(self, inputs):
        seen_while_predicting.append(Path("out.jsonl").read_text())
        if len(seen_while_predicting) == fail_at_batch:
            raise RuntimeError("stopped")
        return predict_batch_json(self, inputs)

    monkeypatch.setattr(HintInstructionPredictor, "predict_batch_json", predict_and_look)
    command = ["predict", str(trained_archive), "in.jsonl", "--output-file", "out.jsonl"]
    fail_at_batch = None
    run_allennlp(*command, "--batch-size", "1", "--silent")
    assert seen_while_predicting == ["the previous run's output\n"] * 3
    complete = Path("out.jsonl").read_text()
    assert [json.loads(line)["input"] for line in complete.splitlines()] == [
        "Albania",
        "France",
        "Peru",
    ]
    seen_while_predicting.clear()
    fail_at_batch = 2
    with pytest.raises(RuntimeError, match="stopped"):
        run_allennlp(*command, "--batch-size", "1", "--silent")
    assert Path("out.jsonl").read_text() == complete
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_evaluate_refuses_a_batch_size_below_one(tmp_path):
    """`allennlp evaluate --batch-size 0` used to evaluate with the archive's batch size."""
    (tmp_path / "in.jsonl").write_text("{}\n")
    with pytest.raises(ConfigurationError, match="--batch-size must be at least 1, not 0"):
        run_allennlp("evaluate", NO_ARCHIVE, str(tmp_path / "in.jsonl"), "--batch-size", "0")


def test_gradient_accumulation_below_one_is_refused_before_training(tmp_path, monkeypatch):
    """`trainer.num_gradient_accumulation_steps: 0` used to end in a ZeroDivisionError."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigurationError, match="trainer.num_gradient_accumulation_steps must be a whole"
    ):
        run_allennlp(
            "train",
            str(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"),
            "-s",
            "run",
            "--overrides",
            json.dumps({"trainer.num_gradient_accumulation_steps": 0}),
        )
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.slow
def test_evaluate_writes_readable_prediction_lines_by_default(trained_archive, tmp_path):
    """Without a serializer in the config, the predictions file used to hold token-id tensors."""
    predictions = tmp_path / "predictions.jsonl"
    task = FIXTURES_ROOT / "sni" / "tasks" / "task1146_country_capital.json"
    run_allennlp(
        "evaluate", str(trained_archive), str(task), "--predictions-output-file", str(predictions)
    )
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    # The fixture experiment reads 2 instances per task.
    assert [line["input"] for line in lines] == [
        instance["input"] for instance in json.loads(task.read_text())["Instances"][:2]
    ]
    assert all(isinstance(line["prediction"], str) for line in lines)
