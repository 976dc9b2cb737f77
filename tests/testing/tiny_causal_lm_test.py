import filecmp

import pytest
import torch
from allennlp.data.tokenizers import PretrainedTransformerTokenizer
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2Tokenizer,
)

from hint_allennlp.cost.flops import DecoderOnlyCounts, ParameterCounts
from hint_allennlp.testing.tiny_causal_lm import DEMO_SHAPE, build_tiny_causal_lm, training_texts
from hint_allennlp.testing.tiny_t5 import DEMO_T5, tiny_t5_config
from tests import FIXTURES_ROOT, SNI_FIXTURES, TINY_GPT2, TINY_OPT

TEXT = (SNI_FIXTURES / "tasks" / "task1146_country_capital.json").read_text()[:2000] + " héllo 😀"
TOKENIZER_FILES = {
    # what `gpt2` and `facebook/opt-125m` ship besides their weights and generation config
    "gpt2": ["config.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "vocab.json"],
    "opt": [
        "config.json",
        "merges.txt",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.json",
    ],
}
CHECKPOINTS = {"gpt2": TINY_GPT2, "opt": TINY_OPT}


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_loads_by_path_like_a_hub_checkpoint(family):
    checkpoint = CHECKPOINTS[family]
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    assert model.config.model_type == family
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (64, 2)
    for name in TOKENIZER_FILES[family]:
        assert (checkpoint / name).is_file(), name
    if family == "opt":  # as the hub's OPT: the fast tokenizer is converted when loaded
        assert not (checkpoint / "tokenizer.json").exists()


def test_gpt2_has_one_special_token_and_no_pad_token():
    tokenizer = AutoTokenizer.from_pretrained(TINY_GPT2)
    assert tokenizer.bos_token == tokenizer.eos_token == tokenizer.unk_token == "<|endoftext|>"
    assert tokenizer.eos_token_id == len(tokenizer) - 1  # the last id, as in GPT-2
    assert tokenizer.pad_token is None
    allennlp_tokenizer = PretrainedTransformerTokenizer(str(TINY_GPT2))
    assert allennlp_tokenizer.single_sequence_start_tokens == []
    assert allennlp_tokenizer.single_sequence_end_tokens == []


def test_opt_prepends_its_end_token_as_bos():
    tokenizer = AutoTokenizer.from_pretrained(TINY_OPT)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (2, 2, 1)
    assert tokenizer("Output: Tirana").input_ids[0] == 2
    allennlp_tokenizer = PretrainedTransformerTokenizer(str(TINY_OPT))
    assert [token.text for token in allennlp_tokenizer.single_sequence_start_tokens] == ["</s>"]
    assert allennlp_tokenizer.single_sequence_end_tokens == []


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_byte_level_bpe_fast_and_slow_tokenizers_agree_and_round_trip(family):
    fast = AutoTokenizer.from_pretrained(CHECKPOINTS[family])
    slow = GPT2Tokenizer.from_pretrained(CHECKPOINTS[family])
    ids = fast(TEXT).input_ids
    assert ids == slow(TEXT).input_ids
    assert fast.decode(ids, skip_special_tokens=True) == TEXT  # byte-level: nothing is lost
    assert len(ids) < len(TEXT.encode()) / 2  # the merges were learned from the fixture text


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_build_is_deterministic(family, tmp_path):
    rebuilt = build_tiny_causal_lm(family, tmp_path / family, FIXTURES_ROOT)
    for name in TOKENIZER_FILES[family]:
        assert filecmp.cmp(rebuilt / name, CHECKPOINTS[family] / name, shallow=False), name
    original = AutoModelForCausalLM.from_pretrained(CHECKPOINTS[family]).state_dict()
    for name, weight in AutoModelForCausalLM.from_pretrained(rebuilt).state_dict().items():
        assert torch.equal(weight, original[name]), name


def test_the_demo_shape_has_about_the_demo_t5s_weights_outside_the_embeddings():
    t5 = ParameterCounts.from_t5_config(tiny_t5_config(**DEMO_T5))
    t5_weights = t5.encoder + t5.cross_attention_key_value + t5.decoder - 64 * 32128
    gpt2 = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=2001,
            n_embd=DEMO_SHAPE["hidden_size"],
            n_layer=DEMO_SHAPE["layers"],
            n_head=DEMO_SHAPE["heads"],
        )
    )
    assert abs(DecoderOnlyCounts.from_model(gpt2).layers / t5_weights - 1) < 0.1


def test_a_fixtures_folder_without_text_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="No fixture text under"):
        training_texts(tmp_path)
