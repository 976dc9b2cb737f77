"""
`allennlp train` with the configs in training_configs/, run as users run it (the real CLI, in a
subprocess, from the repository root): PyTorch DDP on two CPU workers with gradient accumulation,
`--recover` after a run is killed between epochs, and two nodes (`--node-rank`) on this machine.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
import torch

from tests import PROJECT_ROOT

# Several processes on the default port: the distributed tests run one after another, on one
# test process (`pytest -n 2 --dist loadgroup`, the Makefile's test).
pytestmark = [pytest.mark.xdist_group("distributed"), pytest.mark.slow]

ALLENNLP = str(Path(sys.executable).parent / "allennlp")
HINT_EXPERIMENT = PROJECT_ROOT / "training_configs" / "sni" / "def_2pos" / "hint.jsonnet"
LIBSONNET = PROJECT_ROOT / "training_configs" / "hint.libsonnet"
TIMEOUT = 600


def write_experiment(path: Path, settings: str) -> Path:
    """
    HINT 'Def + 2 Pos.' on the tiny checkpoint and the fixtures, with `settings` (jsonnet) on top.
    """
    path.write_text(
        f'local hint = import "{LIBSONNET}";\n'
        f'(import "{HINT_EXPERIMENT}")(hint.tiny_cpu {{max_decoding_steps: 2}} + {settings})\n'
    )
    return path


def start_training(
    experiment: Path, serialization_dir: Path, output: Path, *flags: str, **popen_kwargs
):
    """
    Starts `allennlp train`; its output goes to a file (a pipe that nobody reads would fill up). One
    thread per process: processes of two threads each on two busy cores slow down many times over.
    """
    with open(output, "w") as output_file:
        return subprocess.Popen(
            [ALLENNLP, "train", str(experiment), "-s", str(serialization_dir), *flags],
            cwd=PROJECT_ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=output_file,
            stderr=subprocess.STDOUT,
            **popen_kwargs,
        )


def succeed(process: subprocess.Popen, output: Path) -> str:
    process.wait(timeout=TIMEOUT)
    assert process.returncode == 0, output.read_text()[-3000:]
    return output.read_text()


# The distributed runs compared with each other (with `model_name` and the devices on top): 2 epochs
# of 3 steps of 4 examples, 2 workers x batches of 1 x 2 accumulated batches.
DISTRIBUTED_SETTINGS = "{batch_size: 1, examples_per_step: 4, optimizer_steps: 6, num_epochs: 2}"


def train(directory: Path, settings: str, *flags: str) -> Path:
    """Trains `settings` in `directory`/run; returns that serialization directory."""
    experiment = write_experiment(directory / "experiment.jsonnet", settings)
    serialization_dir, output = directory / "run", directory / "output.txt"
    succeed(start_training(experiment, serialization_dir, output, *flags), output)
    return serialization_dir


def wait_for_log(process: subprocess.Popen, log_file: Path, text: str, output: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not (log_file.exists() and text in log_file.read_text()):
        assert process.poll() is None, output.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{text!r} never appeared in {log_file}"
        time.sleep(0.05)


def epoch_losses(serialization_dir: Path) -> list:
    """The training loss of each epoch, from the metrics files the trainer writes."""
    files = sorted(
        serialization_dir.glob("metrics_epoch_*.json"),
        key=lambda path: int(path.stem.rsplit("_", 1)[1]),
    )
    return [json.loads(path.read_text())["training_loss"] for path in files]


def final_weights(serialization_dir: Path) -> dict:
    """
    The archived model's state dict (`best.th`, what `model.tar.gz` holds), loaded as a plain file.
    """
    return torch.load(serialization_dir / "best.th", map_location="cpu")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def optimizer_step_counts(
    serialization_dir: Path, epochs_completed: int, worker: Optional[int] = None
) -> set:
    """
    The step counts that Adafactor keeps per parameter in the checkpoint (one value: all are stepped
    together); of one `worker`'s checkpoint when each worker writes its own (sharded training).
    """
    suffix = "" if worker is None else f"_w{worker}"
    state = torch.load(
        serialization_dir / f"training_state_e{epochs_completed}_b0{suffix}.th", weights_only=False
    )
    return {parameter_state["step"] for parameter_state in state["optimizer"]["state"].values()}


def test_two_cpu_workers_with_gradient_accumulation(tmp_path):
    # Two workers x batches of 2 x 2 accumulated batches = 8 examples per step; 3 steps.
    experiment = write_experiment(
        tmp_path / "experiment.jsonnet",
        "{cuda_devices: [-1, -1], batch_size: 2, examples_per_step: 8, optimizer_steps: 3, "
        "num_epochs: 1}",
    )
    serialization_dir, output = tmp_path / "run", tmp_path / "output.txt"
    succeed(start_training(experiment, serialization_dir, output), output)

    config = json.loads((serialization_dir / "config.json").read_text())
    assert config["distributed"] == {"cuda_devices": [-1, -1]}
    assert config["trainer"]["num_gradient_accumulation_steps"] == 2
    for rank in (0, 1):
        assert "Epoch 0/0" in (serialization_dir / f"out_worker{rank}.log").read_text()
    # 6 batches per worker, accumulated in pairs.
    assert optimizer_step_counts(serialization_dir, epochs_completed=1) == {3}
    assert config["evaluate_on_test"] is False  # AllenNLP would evaluate on one worker's share only
    assert (serialization_dir / "model.tar.gz").exists()


def test_recover_resumes_a_killed_run_from_its_last_checkpoint(tmp_path):
    # Two epochs of 20 steps: the run is killed early in the second one.
    experiment = write_experiment(
        tmp_path / "experiment.jsonnet",
        "{batch_size: 4, examples_per_step: 4, optimizer_steps: 40, num_epochs: 2}",
    )
    serialization_dir, output = tmp_path / "run", tmp_path / "output.txt"
    log_file = serialization_dir / "out.log"

    # In its own process group, so that the kill reaches everything the run started.
    first_run = start_training(experiment, serialization_dir, output, start_new_session=True)
    # The trainer logs "Epoch 1/1" after the first epoch's checkpoint is completely written.
    wait_for_log(first_run, log_file, "Epoch 1/1", output)
    os.killpg(first_run.pid, signal.SIGKILL)
    first_run.wait()
    assert not (serialization_dir / "metrics_epoch_1.json").exists(), (
        "the run ended before it was killed"
    )
    assert not (serialization_dir / "model.tar.gz").exists()

    recovered_output = succeed(
        start_training(experiment, serialization_dir, output, "--recover"), output
    )
    # AllenNLP replays the first epoch's data without training on it (to keep the data order), so
    # only the second epoch is trained, and the optimizer's step count continues from 20.
    assert recovered_output.count("Epoch duration") == 1
    assert optimizer_step_counts(serialization_dir, epochs_completed=2) == {40}
    assert json.loads((serialization_dir / "metrics.json").read_text())["epoch"] == 1
    assert (serialization_dir / "model.tar.gz").exists()


def test_two_nodes_train_what_one_node_of_two_workers_trains(
    tmp_path, tiny_t5_without_dropout, two_worker_ddp_run
):
    """
    Two `allennlp train` processes as node ranks 0 and 1 (one CPU worker each, the primary on the
    loopback address), each with its own serialization directory as on separate machines.
    """
    settings = (
        f"{{model_name: '{tiny_t5_without_dropout}', cuda_devices: [-1], num_nodes: 2, "
        f"primary_address: '127.0.0.1', primary_port: {free_port()}}} + {DISTRIBUTED_SETTINGS}"
    )
    experiment = write_experiment(tmp_path / "experiment.jsonnet", settings)
    nodes = [
        (
            start_training(
                experiment,
                tmp_path / f"node{rank}",
                tmp_path / f"output{rank}.txt",
                "--node-rank",
                str(rank),
            ),
            tmp_path / f"output{rank}.txt",
        )
        for rank in (0, 1)
    ]
    outputs = [succeed(node, output) for node, output in nodes]

    assert "World size: 2" in outputs[0] and "Rank of this node: 1" in outputs[1]
    assert epoch_losses(tmp_path / "node0") == epoch_losses(two_worker_ddp_run)
    expected = final_weights(two_worker_ddp_run)
    weights = final_weights(tmp_path / "node0")
    assert weights.keys() == expected.keys()
    for name, tensor in weights.items():
        torch.testing.assert_close(tensor, expected[name], atol=1e-6, rtol=0, msg=name)
    # The primary node archives; the other one leaves it to the primary instead of failing.
    assert (tmp_path / "node0" / "model.tar.gz").exists()
    assert not (tmp_path / "node1" / "model.tar.gz").exists()
    assert "model.tar.gz is written by node 0" in outputs[1]


def test_a_misspelled_trainer_key_is_refused_before_the_run_starts(tmp_path):
    # AllenNLP's trainer takes **kwargs: `num_epoch` used to train the default 20 epochs silently.
    experiment = write_experiment(tmp_path / "experiment.jsonnet", "{}")
    serialization_dir, output = tmp_path / "run", tmp_path / "output.txt"
    process = start_training(
        experiment, serialization_dir, output, "-o", json.dumps({"trainer.num_epoch": 1})
    )
    process.wait(timeout=TIMEOUT)
    log = output.read_text()
    assert process.returncode != 0, log[-3000:]
    assert "Unknown trainer key(s) ['num_epoch'] ('num_epoch': did you mean 'num_epochs'?)" in log
    assert not serialization_dir.exists()  # refused before anything was created
