import pytest
from allennlp.commands.train import train_model_from_file

from hint_allennlp.testing.tiny_t5 import build_tiny_t5
from tests import FIXTURES_ROOT, TINY_T5


@pytest.fixture(scope="session", autouse=True)
def tiny_t5_checkpoint():
    """The tiny checkpoint is built, deterministically, by `make`; build it here when tests run alone."""
    if not (TINY_T5 / "config.json").exists():
        build_tiny_t5(TINY_T5)
    return TINY_T5


@pytest.fixture(scope="session")
def trained_archive(tmp_path_factory, tiny_t5_checkpoint):
    """model.tar.gz of the fixture experiment (HINT on the tiny T5), trained for one short epoch."""
    serialization_dir = tmp_path_factory.mktemp("hint_model")
    train_model_from_file(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet", serialization_dir, force=True)
    return serialization_dir / "model.tar.gz"
