"""Renamed constructor arguments (`hint_allennlp/models/renamed_keys.py`) keep working."""

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model

from tests import TINY_CAUSAL_LMS, TINY_T5


def build(model: dict) -> Model:
    return Model.from_params(vocab=Vocabulary(), params=Params(model))


@pytest.mark.parametrize(
    "model",
    [
        {"type": "hint_seq2seq", "model_name": str(TINY_T5)},
        {"type": "instruction_causal_lm", "model_name": str(TINY_CAUSAL_LMS["gpt2"])},
    ],
    ids=["hint_seq2seq", "instruction_causal_lm"],
)
def test_the_old_cache_size_key_works_and_names_the_new_one(model):
    with pytest.warns(
        FutureWarning, match="`task_module_cache_size` is deprecated, renamed `task_cache_size`"
    ):
        built = build({**model, "task_module_cache_size": 3})
    assert built.task_cache.max_size == 3
    assert build({**model, "task_cache_size": 5}).task_cache.max_size == 5
    with pytest.raises(ConfigurationError, match="both `task_module_cache_size` and"):
        build({**model, "task_module_cache_size": 3, "task_cache_size": 5})
