import json
import os
import shutil

import pytest
import torch
from allennlp.commands.train import train_model_from_file
from filelock import FileLock

from hint_allennlp.testing.tiny_causal_lm import build_tiny_causal_lm
from hint_allennlp.testing.tiny_mt5 import build_tiny_mt5
from hint_allennlp.testing.tiny_t5 import build_tiny_t5
from tests import FIXTURES_ROOT, PROJECT_ROOT, TINY_CAUSAL_LMS, TINY_MT5, TINY_T5

# Under `pytest -n 2` (the Makefile's test) each test process, and what it starts, computes on one
# thread: two processes of two threads each on two cores ran every test at half speed.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def tiny_t5_checkpoint():
    """
    The tiny checkpoint is built, deterministically, by `make`; build it here when tests run alone
    (once: the lock keeps a second test process from building it at the same time).
    """
    with FileLock(str(FIXTURES_ROOT / ".tiny-checkpoints.lock")):
        if not (TINY_T5 / "config.json").exists():
            build_tiny_t5(TINY_T5, FIXTURES_ROOT)
    return TINY_T5


@pytest.fixture(scope="session", autouse=True)
def tiny_causal_lm_checkpoints(tiny_t5_checkpoint):
    """
    The tiny GPT-2, OPT, Llama and Qwen2, built like the tiny T5 (`make`, or here when tests run
    alone).
    """
    with FileLock(str(FIXTURES_ROOT / ".tiny-checkpoints.lock")):
        for family, checkpoint in TINY_CAUSAL_LMS.items():
            if not (checkpoint / "config.json").exists():
                build_tiny_causal_lm(family, checkpoint, FIXTURES_ROOT)
    return TINY_CAUSAL_LMS


@pytest.fixture(scope="session", autouse=True)
def tiny_mt5_checkpoint(tiny_t5_checkpoint):
    """The tiny mT5 of the multilingual tests, built like the tiny T5 (`make`, or here)."""
    with FileLock(str(FIXTURES_ROOT / ".tiny-checkpoints.lock")):
        if not (TINY_MT5 / "config.json").exists():
            build_tiny_mt5(TINY_MT5, FIXTURES_ROOT)
    return TINY_MT5


@pytest.fixture(scope="session")
def trained_archive(tmp_path_factory, tiny_t5_checkpoint):
    """model.tar.gz of the fixture experiment (HINT on the tiny T5), trained for one short epoch."""
    serialization_dir = tmp_path_factory.mktemp("hint_model")
    train_model_from_file(
        FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet", serialization_dir, force=True
    )
    return serialization_dir / "model.tar.gz"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "cuda: a GPU check (docs/training_large_models.md, docs/sharded_training.md); "
        "runs only with `-m cuda` and a CUDA device",
    )
    config.addinivalue_line(
        "markers",
        "slow: trains a model, runs an AllenNLP command that loads or trains one, or starts "
        "processes; `make test-fast` leaves these out (docs/development.md)",
    )


def pytest_collection_modifyitems(config, items):
    """`cuda` tests run only when asked for (`-m cuda`), and only where there is a GPU."""
    markexpr = config.getoption("markexpr") or ""
    asked = "cuda" in markexpr and "not cuda" not in markexpr
    reason = "needs CUDA" if asked else "a GPU check: run with `-m cuda`"
    if asked and torch.cuda.is_available():
        return
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def decoder_only_archive(tmp_path_factory, tiny_causal_lm_checkpoints):
    """
    model.tar.gz of the decoder-only fixture experiment (the tiny GPT-2, Tk-Instruct prompt split
    after the instruction), trained for one short epoch without validation.
    """
    serialization_dir = tmp_path_factory.mktemp("decoder_only_model")
    overrides = {
        "dataset_reader.model_name": str(TINY_CAUSAL_LMS["gpt2"]),
        "dataset_reader.tasks_dir": str(FIXTURES_ROOT / "sni" / "tasks"),
        "model.model_name": str(TINY_CAUSAL_LMS["gpt2"]),
        "train_data_path": str(FIXTURES_ROOT / "sni" / "splits" / "train_tasks.txt"),
        "validation_data_path": None,
    }
    train_model_from_file(
        FIXTURES_ROOT / "configs" / "instruction_causal_lm.jsonnet",
        serialization_dir,
        overrides=json.dumps(overrides),
        force=True,
    )
    return serialization_dir / "model.tar.gz"


@pytest.fixture(scope="session")
def tiny_t5_without_dropout(tmp_path_factory, tiny_t5_checkpoint):
    """The tiny checkpoint with dropout 0, for runs compared weight for weight with other runs."""
    checkpoint = tmp_path_factory.mktemp("tiny_t5_without_dropout") / "tiny-t5"
    shutil.copytree(tiny_t5_checkpoint, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["dropout_rate"] = 0.0
    (checkpoint / "config.json").write_text(json.dumps(config))
    return checkpoint


@pytest.fixture(scope="session")
def two_worker_ddp_run(tmp_path_factory, tiny_t5_without_dropout):
    """
    The reference of the distributed tests: the tiny HINT experiment (no dropout) trained with
    PyTorch DDP by two CPU workers on one node; its serialization directory.
    """
    from tests.commands.train_test import DISTRIBUTED_SETTINGS, train

    settings = (
        f"{{model_name: '{tiny_t5_without_dropout}', cuda_devices: [-1, -1]}} "
        f"+ {DISTRIBUTED_SETTINGS}"
    )
    return train(tmp_path_factory.mktemp("ddp"), settings)


@pytest.fixture(scope="session")
def run_in_a_user_folder(tmp_path_factory, tiny_t5_checkpoint):
    """
    `allennlp train` as a user runs it from a folder of their own (the plugin by
    `--include-package`), with a config that names a copy of the tiny T5 by a path relative to that
    folder; then `allennlp predict` there on a fixture task, and the T5's folder is deleted.
    """
    from tests.user_folder import PREDICT_INPUT, UserRun, allennlp

    folder = tmp_path_factory.mktemp("user_folder")
    shutil.copytree(tiny_t5_checkpoint, folder / "my_t5")
    (folder / "experiment.jsonnet").write_text(
        f'local hint = import "{PROJECT_ROOT / "training_configs" / "hint.libsonnet"}";\n'
        f'(import "{PROJECT_ROOT / "training_configs" / "sni" / "def_2pos" / "hint.jsonnet"}")'
        "(hint.tiny_cpu { model_name: 'my_t5', max_decoding_steps: 2, optimizer_steps: 4, "
        "num_epochs: 1, examples_per_step: 8 })\n"
    )
    train = allennlp(folder, "train", "experiment.jsonnet", "-s", "run")
    archive = folder / "run" / "model.tar.gz"
    predict = allennlp(
        folder,
        "predict",
        str(archive),
        str(PREDICT_INPUT),
        "--output-file",
        "predictions.jsonl",
        "--silent",
    )
    shutil.rmtree(folder / "my_t5")
    return UserRun(
        folder=folder,
        archive=archive,
        predictions=(folder / "predictions.jsonl").read_text(),
        train_output=train.stdout + train.stderr,
        predict_output=predict.stdout + predict.stderr,
    )
