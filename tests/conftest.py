import pytest

from hint_allennlp.testing.tiny_t5 import build_tiny_t5
from tests import TINY_T5


@pytest.fixture(scope="session", autouse=True)
def tiny_t5_checkpoint():
    """The tiny checkpoint is built, deterministically, by `make`; build it here when tests run alone."""
    if not (TINY_T5 / "config.json").exists():
        build_tiny_t5(TINY_T5)
    return TINY_T5
