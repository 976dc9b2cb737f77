"""
`allennlp train --recover` after SIGKILL reproduces the uninterrupted run exactly; so does
resuming HINT on a causal LM (the tiny Qwen2) interrupted inside an epoch.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.commands.train import train_model
from allennlp.common import Params

from tests import FIXTURES_ROOT, PROJECT_ROOT, TINY_CAUSAL_LMS
from tests.training.interrupt_callback import TrainingInterrupted

# Every test here trains, runs an AllenNLP command or starts processes.
pytestmark = pytest.mark.slow

ALLENNLP = str(Path(sys.executable).parent / "allennlp")
CONFIG = FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"
# 8 tasks x 4 instances in batches of 8: 4 batches an epoch; a checkpoint every 2 batches and at
# every epoch's end. No validation, to keep the test short (it consumes no random numbers anyway).
OVERRIDES = {
    "dataset_reader.max_instances_per_task": 4,
    "validation_data_path": None,
    "trainer.num_epochs": 3,
    "trainer.checkpointer": {"save_every_num_batches": 2, "keep_most_recent_by_count": None},
}


def train(serialization_dir: Path, callbacks, recover: bool = False) -> subprocess.CompletedProcess:
    overrides = {**OVERRIDES, "trainer.callbacks": callbacks}
    command = [
        ALLENNLP,
        "train",
        str(CONFIG),
        "-s",
        str(serialization_dir),
        "-o",
        json.dumps(overrides),
        "--include-package",
        "tests.training.sigkill_callback",
    ]
    # One thread (as tests/commands/train_test.py): two-thread processes on two busy cores crawl.
    return subprocess.run(
        command + (["--recover"] if recover else []),
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_recover_after_sigkill_at_an_epoch_end_and_inside_an_epoch_gives_the_uninterrupted_weights(
    tmp_path, monkeypatch
):
    # The uninterrupted run in this process (saves a command's start-up), seeded alike and with one
    # thread like the commands, so that its sums are done in the same order.
    monkeypatch.chdir(PROJECT_ROOT)
    overrides = {**OVERRIDES, "trainer.callbacks": [{"type": "exact_resume"}]}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_model(
            Params.from_file(str(CONFIG), json.dumps(overrides)), tmp_path / "uninterrupted"
        )
    finally:
        torch.set_num_threads(threads)

    # Killed in epoch 1 after its first batch: the last checkpoint is epoch 0's end. Then, resumed,
    # killed in epoch 2 after its third batch: the last checkpoint is inside epoch 2 (batch 2).
    callbacks = [{"type": "exact_resume"}, {"type": "sigkill_at", "points": [[1, 1], [2, 3]]}]
    resumed_dir = tmp_path / "resumed"
    assert train(resumed_dir, callbacks).returncode == -9
    assert (resumed_dir / "model_state_e1_b0.th").exists()
    assert train(resumed_dir, callbacks, recover=True).returncode == -9
    assert (resumed_dir / "model_state_e2_b2.th").exists()
    finished = train(resumed_dir, callbacks, recover=True)
    assert finished.returncode == 0, finished.stderr[-3000:]

    expected = torch.load(tmp_path / "uninterrupted" / "best.th")
    resumed = torch.load(resumed_dir / "best.th")
    assert expected.keys() == resumed.keys()
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)
    # Epoch 1 was trained whole by the run resumed at its start. (Epoch 2's reported loss covers
    # only the batches the last run trained: AllenNLP's bookkeeping, not a difference in training.)
    epoch_1 = [
        json.loads((directory / "metrics_epoch_1.json").read_text())
        for directory in (tmp_path / "uninterrupted", resumed_dir)
    ]
    assert epoch_1[0]["training_loss"] == epoch_1[1]["training_loss"]


def test_recover_of_hint_on_a_causal_lm_interrupted_inside_an_epoch_gives_the_uninterrupted_weights(
    tmp_path, monkeypatch
):
    """
    In this process (cheaper than SIGKILL and a fresh process; the resumed run builds its model,
    data and trainer anew from the checkpoint all the same): HINT's generated modules of every kind
    on the tiny Qwen2 with dropout, 4 shuffled batches an epoch, interrupted after batch 3 of
    epoch 1, resumed from the checkpoint after its batch 2. (Without dropout the replayed shuffles
    alone would put the generators back, with or without `exact_resume`.)
    """
    monkeypatch.chdir(PROJECT_ROOT)
    qwen2 = str(tmp_path / "tiny-qwen2")
    shutil.copytree(TINY_CAUSAL_LMS["qwen2"], qwen2)
    config = json.loads((tmp_path / "tiny-qwen2" / "config.json").read_text())
    (tmp_path / "tiny-qwen2" / "config.json").write_text(
        json.dumps({**config, "attention_dropout": 0.1})
    )
    overrides = {
        "dataset_reader.model_name": qwen2,
        "model.model_name": qwen2,
        "model.parameter_generator": {"type": "cross_attention"},
        "model.peft": {"adapter_size": 4, "prefix_length": 3, "use_lora": True, "lora_rank": 4},
        "validation_data_path": None,
        "data_loader.batch_size": 4,
        "trainer.num_epochs": 2,
        "trainer.checkpointer": {"save_every_num_batches": 2, "keep_most_recent_by_count": None},
    }

    def train(serialization_dir: Path, callbacks, recover: bool = False) -> None:
        params = Params.from_file(
            str(FIXTURES_ROOT / "configs" / "instruction_causal_lm.jsonnet"),
            json.dumps({**overrides, "trainer.callbacks": callbacks}),
        )
        train_model(params, serialization_dir, recover=recover)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(tmp_path / "uninterrupted", [{"type": "exact_resume"}])
        resumed_dir = tmp_path / "resumed"
        callbacks = [{"type": "exact_resume"}, {"type": "interrupt_at", "points": [[1, 3]]}]
        with pytest.raises(TrainingInterrupted):
            train(resumed_dir, callbacks)
        assert (resumed_dir / "model_state_e1_b2.th").exists()
        train(resumed_dir, callbacks, recover=True)
    finally:
        torch.set_num_threads(threads)

    expected = torch.load(tmp_path / "uninterrupted" / "best.th")
    resumed = torch.load(resumed_dir / "best.th")
    assert expected.keys() == resumed.keys()
    assert any(name.startswith("hypernetwork.generator") for name in expected)
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)
