"""
`allennlp train` with the configs in training_configs/, run as users run it (the real CLI, in a
subprocess, from the repository root): PyTorch DDP on two CPU workers with gradient accumulation,
and `--recover` after a run is killed between epochs.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests import PROJECT_ROOT

ALLENNLP = str(Path(sys.executable).parent / "allennlp")
HINT_EXPERIMENT = PROJECT_ROOT / "training_configs" / "sni" / "def_2pos" / "hint.jsonnet"
LIBSONNET = PROJECT_ROOT / "training_configs" / "hint.libsonnet"
TIMEOUT = 600


def write_experiment(path: Path, settings: str) -> Path:
    """HINT 'Def + 2 Pos.' on the tiny checkpoint and the fixtures, with `settings` (jsonnet) on top."""
    path.write_text(
        f'local hint = import "{LIBSONNET}";\n'
        f'(import "{HINT_EXPERIMENT}")(hint.tiny_cpu {{max_decoding_steps: 2}} + {settings})\n'
    )
    return path


def start_training(experiment: Path, serialization_dir: Path, output: Path, *flags: str, **popen_kwargs):
    """
    Starts `allennlp train`; its output goes to a file (a pipe that nobody reads would fill up).
    One thread per process: processes of two threads each on two busy cores slow down many times over.
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


def optimizer_step_counts(serialization_dir: Path, epochs_completed: int) -> set:
    """The step counts that Adafactor keeps per parameter in the checkpoint (one value: all are stepped together)."""
    state = torch.load(serialization_dir / f"training_state_e{epochs_completed}_b0.th", weights_only=False)
    return {parameter_state["step"] for parameter_state in state["optimizer"]["state"].values()}


def test_two_cpu_workers_with_gradient_accumulation(tmp_path):
    # Two workers x batches of 2 x 2 accumulated batches = 8 examples per step; 3 steps.
    experiment = write_experiment(
        tmp_path / "experiment.jsonnet",
        "{cuda_devices: [-1, -1], batch_size: 2, examples_per_step: 8, optimizer_steps: 3, num_epochs: 1}",
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
        tmp_path / "experiment.jsonnet", "{batch_size: 4, examples_per_step: 4, optimizer_steps: 40, num_epochs: 2}"
    )
    serialization_dir, output = tmp_path / "run", tmp_path / "output.txt"
    log_file = serialization_dir / "out.log"

    # In its own process group, so that the kill reaches everything the run started.
    first_run = start_training(experiment, serialization_dir, output, start_new_session=True)
    deadline = time.monotonic() + TIMEOUT
    # The trainer logs "Epoch 1/1" after the first epoch's checkpoint is completely written.
    while not (log_file.exists() and "Epoch 1/1" in log_file.read_text()):
        assert first_run.poll() is None, output.read_text()[-3000:]
        assert time.monotonic() < deadline, "the first epoch did not end"
        time.sleep(0.05)
    os.killpg(first_run.pid, signal.SIGKILL)
    first_run.wait()
    assert not (serialization_dir / "metrics_epoch_1.json").exists(), "the run ended before it was killed"
    assert not (serialization_dir / "model.tar.gz").exists()

    recovered_output = succeed(start_training(experiment, serialization_dir, output, "--recover"), output)
    # AllenNLP replays the first epoch's data without training on it (to keep the data order), so
    # only the second epoch is trained, and the optimizer's step count continues from 20.
    assert recovered_output.count("Epoch duration") == 1
    assert optimizer_step_counts(serialization_dir, epochs_completed=2) == {40}
    assert json.loads((serialization_dir / "metrics.json").read_text())["epoch"] == 1
    assert (serialization_dir / "model.tar.gz").exists()
