"""
`hint_allennlp/modules/transformers_internals.py` against the transformers installed: each piece it
re-implements runs beside HF's own module and must compute exactly what HF computes, step by step
(the cache, the position bias, the attention weights, the heads merged, the output: the first
assertion that fails names the step that drifted); and the lines of HF's source it follows must
still be there, in order (the first missing one is named).
"""

import copy
import inspect
import re

import pytest
import torch
import transformers
from packaging.specifiers import SpecifierSet
from transformers import T5Config
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.models.gpt2 import modeling_gpt2
from transformers.models.opt import modeling_opt
from transformers.models.t5 import modeling_t5
from transformers.models.t5.modeling_t5 import T5Attention, T5Block, T5LayerFF

from hint_allennlp.modules.transformers_internals import (
    TRANSFORMERS_VERSIONS,
    PrependedVectors,
    PrependedVectorsT5Attention,
    cross_attend,
    cross_attention,
    cross_attention_layer,
    feed_forward_layer,
    feed_forward_with_its_input,
    self_attention,
)
from hint_allennlp.testing.tiny_t5 import tiny_t5_config

# The lines of HF's source that transformers_internals.py follows, in their order there, by function
# (white space aside).
FOLLOWED_SOURCE = {
    modeling_t5.T5Attention.forward: [
        # the signature `PrependedVectorsT5Attention.forward` takes and hands on
        "hidden_states,",
        "mask=None,",
        "key_value_states=None,",
        "position_bias=None,",
        "past_key_value=None,",
        "layer_head_mask=None,",
        "query_length=None,",
        "use_cache=False,",
        "output_attentions=False,",
        "cache_position=None,",
        # split_heads
        "query_states = query_states.view(batch_size, -1, self.n_heads, "
        "self.key_value_proj_dim).transpose(1, 2)",
        # project_and_cache
        "is_updated = past_key_value.is_updated.get(self.layer_idx)",
        "curr_past_key_value = past_key_value.cross_attention_cache",
        "curr_past_key_value = past_key_value.self_attention_cache",
        "current_states = key_value_states if is_cross_attention else hidden_states",
        "key_states = curr_past_key_value.key_cache[self.layer_idx]",
        "value_states = curr_past_key_value.value_cache[self.layer_idx]",
        "cache_position = cache_position if not is_cross_attention else None",
        "key_states, value_states = curr_past_key_value.update(",
        'key_states, value_states, self.layer_idx, {"cache_position": cache_position}',
        "past_key_value.is_updated[self.layer_idx] = True",
        # the scores
        "scores = torch.matmul(query_states, key_states.transpose(3, 2))",
        # plain_position_bias
        "real_seq_length = query_length if query_length is not None else cache_position[-1] + 1",
        "if not self.has_relative_attention_bias:",
        "position_bias = self.compute_bias(",
        "real_seq_length, key_length, device=scores.device, cache_position=cache_position",
        "position_bias = position_bias[:, :, -seq_length:, :]",
        "causal_mask = mask[:, :, :, : key_states.shape[-2]]",
        "position_bias = position_bias + causal_mask",
        # the rest of the forward
        "scores += position_bias_masked",
        "attn_weights = nn.functional.softmax(scores.float(), dim=-1).type_as(scores)",
        "attn_weights = nn.functional.dropout(attn_weights, p=self.dropout, "
        "training=self.training)",
        "attn_weights = attn_weights * layer_head_mask",
        "attn_output = torch.matmul(attn_weights, value_states)",
        "attn_output = attn_output.transpose(1, 2).contiguous()",
        "attn_output = attn_output.view(batch_size, -1, self.inner_dim)",
        "attn_output = self.o(attn_output)",
        "outputs = (attn_output, past_key_value, position_bias)",
        "outputs = outputs + (attn_weights,)",
    ],
    # feed_forward_with_its_input
    modeling_t5.T5LayerFF.forward: [
        "forwarded_states = self.layer_norm(hidden_states)",
        "forwarded_states = self.DenseReluDense(forwarded_states)",
        "hidden_states = hidden_states + self.dropout(forwarded_states)",
    ],
    # self_attention, cross_attention_layer, feed_forward_layer
    modeling_t5.T5Block.__init__: [
        "self.layer.append(",
        "T5LayerSelfAttention(config, has_relative_attention_bias=has_relative_attention_bias, "
        "layer_idx=layer_idx)",
        "self.layer.append(T5LayerCrossAttention(config, layer_idx=layer_idx))",
        "self.layer.append(T5LayerFF(config))",
    ],
    modeling_t5.T5LayerSelfAttention.__init__: ["self.SelfAttention = T5Attention("],
    modeling_t5.T5LayerCrossAttention.__init__: [
        "self.EncDecAttention = T5Attention(config, has_relative_attention_bias=False, "
        "layer_idx=layer_idx)"
    ],
    # cross_attend
    modeling_t5.T5LayerCrossAttention.forward: [
        "key_value_states,",
        "attention_mask=None,",
        "query_length=None,",
        "normed_hidden_states = self.layer_norm(hidden_states)",
        "layer_output = hidden_states + self.dropout(attention_output[0])",
    ],
    # block_cache
    modeling_t5.T5Block.forward: ["past_key_value=None,"],
    # attention_implementation: GPT-2 calls the registry, and builds masks by its own copy of
    # the name
    modeling_gpt2.GPT2Attention.forward: [
        "attention_interface = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]"
    ],
    modeling_gpt2.GPT2Model.__init__: ["self._attn_implementation = config._attn_implementation"],
    # _opt_attention_forward: OPT's signature, projections and cache update
    modeling_opt.OPTAttention.forward: [
        "hidden_states: torch.Tensor,",
        "past_key_value: Optional[Tuple[torch.Tensor]] = None,",
        "attention_mask: Optional[torch.Tensor] = None,",
        "layer_head_mask: Optional[torch.Tensor] = None,",
        "output_attentions: bool = False,",
        "position_ids: Optional[torch.Tensor] = None,",
        "cache_position: Optional[torch.Tensor] = None,",
        "query_states = self.q_proj(hidden_states) * self.scaling",
        "key_states = self.k_proj(hidden_states)",
        "value_states = self.v_proj(hidden_states)",
        "key_states, value_states = past_key_value.update(",
        "attn_output = self.out_proj(attn_output)",
        "return attn_output, attn_probs, past_key_value",
    ],
    modeling_opt.OPTDecoderLayer.__init__: [
        "self.self_attn = OPT_ATTENTION_CLASSES[config._attn_implementation](config=config, "
        "layer_idx=layer_idx)"
    ],
}


def test_the_installed_transformers_is_in_the_range_followed():
    assert transformers.__version__ in SpecifierSet(",".join(TRANSFORMERS_VERSIONS)), (
        f"transformers_internals.py follows transformers {TRANSFORMERS_VERSIONS}, this is "
        f"{transformers.__version__}: check it against the new modeling_t5.py (this file's "
        "other tests say where it differs) and widen the range"
    )


@pytest.mark.parametrize(
    "function", FOLLOWED_SOURCE, ids=[function.__qualname__ for function in FOLLOWED_SOURCE]
)
def test_the_lines_of_hf_source_followed_are_still_there(function):
    source = [" ".join(line.split()) for line in inspect.getsource(function).splitlines()]
    position = 0
    for line in FOLLOWED_SOURCE[function]:
        found = next(
            (index for index in range(position, len(source)) if source[index] == line), None
        )
        assert found is not None, (
            f"transformers {transformers.__version__}'s {function.__qualname__} no longer has, "
            f"after line {position} of its source, the line transformers_internals.py "
            f"follows:\n{line}"
        )
        position = found + 1


class EmptyPrependedAttention(PrependedVectorsT5Attention):
    """Prepends zero vectors: the re-implemented forward runs, and must be HF's exactly."""

    def prepended(self, dtype):
        empty = torch.zeros(1, self.n_heads, 0, self.key_value_proj_dim, dtype=dtype)
        return [PrependedVectors("empty", empty, empty, 0.0)]


def _pair(config: T5Config, has_relative_attention_bias: bool):
    torch.manual_seed(0)
    hf = T5Attention(config, has_relative_attention_bias, layer_idx=0).eval()
    ours = copy.deepcopy(hf)
    ours.__class__ = EmptyPrependedAttention
    return hf, ours


def _merged_heads(attention: T5Attention, seen: list):
    """Records what `o` receives: the heads merged back, [B, q, H * d_kv]."""
    return attention.o.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))


def _compare(hf, ours, hf_cache, our_cache, **arguments):
    """One call of each, compared in the order of the forward's steps."""
    hf_seen, our_seen = [], []
    hooks = [_merged_heads(hf, hf_seen), _merged_heads(ours, our_seen)]
    with torch.no_grad():
        hf_output = hf(**arguments, past_key_value=hf_cache, output_attentions=True)
        our_output = ours(**arguments, past_key_value=our_cache, output_attentions=True)
    for hook in hooks:
        hook.remove()
    if hf_cache is not None:
        for part in ("self_attention_cache", "cross_attention_cache"):
            hf_part, our_part = getattr(hf_cache, part), getattr(our_cache, part)
            assert len(hf_part.key_cache) == len(our_part.key_cache), f"{part}: layers cached"
            for hf_tensor, our_tensor in zip(
                hf_part.key_cache + hf_part.value_cache, our_part.key_cache + our_part.value_cache
            ):
                assert torch.equal(hf_tensor, our_tensor), f"{part}: keys and values"
        assert hf_cache.is_updated == our_cache.is_updated, "the cross-attention cache's flags"
    assert torch.equal(hf_output[2], our_output[2]), "the position bias (with the mask)"
    assert torch.equal(hf_output[3], our_output[3]), "the attention weights"
    assert torch.equal(hf_seen[0], our_seen[0]), "the heads merged, into o"
    assert torch.equal(hf_output[0], our_output[0]), "the output"
    assert (our_output[1] is our_cache) and (hf_output[1] is hf_cache), "the cache handed on"


def _causal_mask(batch_size, query_length, key_length, dtype=torch.float32):
    """[B, 1, q, k]: the dtype's minimum above the diagonal, for queries at the last positions."""
    positions = torch.arange(key_length)
    queries = torch.arange(key_length - query_length, key_length)[:, None]
    blocked = (positions[None, :] > queries).to(dtype) * torch.finfo(dtype).min
    return blocked.expand(batch_size, 1, query_length, key_length)


def _padding_mask(lengths, key_length, dtype=torch.float32):
    """[B, 1, 1, k]: the dtype's minimum on padding."""
    padded = torch.arange(key_length)[None, :] >= torch.tensor(lengths)[:, None]
    return (padded.to(dtype) * torch.finfo(dtype).min)[:, None, None, :]


CONFIG = tiny_t5_config(dropout_rate=0.0)


@pytest.mark.parametrize("has_relative_attention_bias", [True, False])
def test_encoder_self_attention(has_relative_attention_bias):
    hf, ours = _pair(CONFIG, has_relative_attention_bias)
    hidden = torch.randn(2, 5, CONFIG.d_model)
    _compare(
        hf,
        ours,
        None,
        None,
        hidden_states=hidden,
        mask=_padding_mask([5, 3], 5),
        cache_position=torch.arange(5),
    )


def test_encoder_self_attention_with_the_position_bias_of_the_first_layer():
    hf, ours = _pair(CONFIG, has_relative_attention_bias=False)
    bias = torch.randn(1, CONFIG.num_heads, 5, 5) + _padding_mask([5, 3], 5)
    _compare(
        hf, ours, None, None, hidden_states=torch.randn(2, 5, CONFIG.d_model), position_bias=bias
    )


DECODER = tiny_t5_config(dropout_rate=0.0, is_decoder=True)


def test_decoder_self_attention_without_cache():
    hf, ours = _pair(DECODER, has_relative_attention_bias=True)
    _compare(
        hf,
        ours,
        None,
        None,
        hidden_states=torch.randn(2, 4, DECODER.d_model),
        mask=_causal_mask(2, 4, 4),
        cache_position=torch.arange(4),
    )


def _cache():
    return EncoderDecoderCache(DynamicCache(), DynamicCache())


def test_decoder_self_attention_with_cache():
    hf, ours = _pair(DECODER, has_relative_attention_bias=True)
    hf_cache, our_cache = _cache(), _cache()
    # the prompt, then one token at a time
    for start, length in ((0, 3), (3, 1), (4, 1)):
        _compare(
            hf,
            ours,
            hf_cache,
            our_cache,
            hidden_states=torch.randn(2, length, DECODER.d_model),
            mask=_causal_mask(2, length, start + length),
            cache_position=torch.arange(start, start + length),
            use_cache=True,
        )


@pytest.mark.parametrize("cached", [False, True])
def test_decoder_cross_attention(cached):
    hf, ours = _pair(DECODER, has_relative_attention_bias=False)
    hf_cache, our_cache = (_cache(), _cache()) if cached else (None, None)
    encoded = torch.randn(2, 6, DECODER.d_model)
    # with a cache, the second step reads the keys and values the first one stored
    for step in range(2):
        _compare(
            hf,
            ours,
            hf_cache,
            our_cache,
            hidden_states=torch.randn(2, 1, DECODER.d_model),
            key_value_states=encoded,
            mask=_padding_mask([6, 4], 6),
            query_length=step + 1,
            cache_position=torch.tensor([step]),
            use_cache=cached,
        )


def test_feed_forward_with_its_input_is_hf_feed_forward():
    torch.manual_seed(0)
    layer = T5LayerFF(CONFIG).eval()
    hidden = torch.randn(2, 5, CONFIG.d_model)
    output, normed = feed_forward_with_its_input(layer, hidden)
    assert torch.equal(output, layer(hidden))
    assert torch.equal(normed, layer.layer_norm(hidden))


def test_the_layers_of_a_block_and_cross_attend():
    torch.manual_seed(0)
    block = T5Block(DECODER, has_relative_attention_bias=False, layer_idx=0).eval()
    assert isinstance(self_attention(block), T5Attention) and self_attention(block).is_decoder
    assert cross_attention(block) is cross_attention_layer(block).EncDecAttention
    assert isinstance(feed_forward_layer(block), T5LayerFF)
    hidden, states = torch.randn(2, 3, DECODER.d_model), torch.randn(2, 6, DECODER.d_model)
    mask = _padding_mask([6, 4], 6)
    expected = cross_attention_layer(block)(
        hidden, key_value_states=states, attention_mask=mask, query_length=3
    )[0]
    assert torch.equal(cross_attend(cross_attention_layer(block), hidden, states, mask), expected)
    assert re.search(r"\bpast_key_value\b", str(inspect.signature(T5Block.forward)))
