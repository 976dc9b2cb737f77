import json

import pytest
from transformers import AutoTokenizer, T5ForConditionalGeneration, T5Tokenizer

from hint_allennlp.cost.flops import ParameterCounts
from hint_allennlp.testing.tiny_t5 import DEMO_T5, build_tiny_t5, tiny_t5_config
from tests import FIXTURES_ROOT, TINY_T5

SENTENCE = "Translate English to German: That is good."
# sentencepiece's own encoding with fixtures/t5-tokenizer/spiece.model, then </s>.
SENTENCEPIECE_IDS = [30355, 15, 1566, 12, 2968, 10, 466, 19, 207, 5, 1]


def test_loads_by_path_like_a_hub_checkpoint():
    model = T5ForConditionalGeneration.from_pretrained(TINY_T5)
    assert model.config.feed_forward_proj == "gated-gelu"
    assert (model.config.d_model, model.config.num_layers, model.config.num_heads) == (64, 2, 4)
    assert not model.config.tie_word_embeddings


def test_fast_and_slow_tokenizers_agree_with_sentencepiece():
    assert AutoTokenizer.from_pretrained(TINY_T5)(SENTENCE).input_ids == SENTENCEPIECE_IDS
    assert T5Tokenizer.from_pretrained(TINY_T5)(SENTENCE).input_ids == SENTENCEPIECE_IDS
    # add_prefix_space would force a slow-to-fast conversion at every load.
    assert "add_prefix_space" not in json.loads((TINY_T5 / "tokenizer_config.json").read_text())


def test_build_is_deterministic(tmp_path):
    rebuilt = T5ForConditionalGeneration.from_pretrained(
        build_tiny_t5(tmp_path / "again", FIXTURES_ROOT)
    )
    original = T5ForConditionalGeneration.from_pretrained(TINY_T5)
    for (name, weight), (_, other) in zip(
        original.state_dict().items(), rebuilt.state_dict().items()
    ):
        assert weight.equal(other), name


def test_the_demo_shape_moves_input_tokens_cost_toward_a_real_t5s():
    """
    DEMO_T5's reason to exist: in the tiny T5 the LM head dwarfs the encoder (25x),
    in the demo's 8x.
    """
    lm_head = 64 * 32128
    tiny, demo = (
        ParameterCounts.from_t5_config(tiny_t5_config(**overrides)) for overrides in ({}, DEMO_T5)
    )
    assert round(lm_head / tiny.encoder) == 25
    assert round(lm_head / demo.encoder) == 8
    assert demo.decoder < 1.1 * tiny.decoder  # output tokens cost about the same


def test_the_fixtures_folder_is_an_argument_and_a_wrong_one_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere/t5-tokenizer/spiece\.model not found"):
        build_tiny_t5(tmp_path / "t5", tmp_path / "nowhere")
