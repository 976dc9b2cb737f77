"""
Everything this package knows of the inside of transformers' models, in one module.

T5 (`transformers.models.t5.modeling_t5`), as it stands in transformers 4.46 to 4.49
(`TRANSFORMERS_VERSIONS`): where a `T5Block` keeps its attentions and feed-forward layer, the
keyword a block gets its key/value cache by, `T5LayerFF.forward` and `T5Attention.forward` (with
the cache API of 4.46 on: `EncoderDecoderCache`, `is_updated`, `layer_idx`, `cache_position`). The
rest of the package only names HF's classes and calls them as HF documents them.

`tests/modules/transformers_internals_test.py` runs each piece here against HF's own module
(encoder self-, decoder self- with and without cache and decoder cross-attention, step by step)
and checks that the lines of HF's source these follow are still there: after an upgrade it names
the first that moved.

Decoder-only models (GPT-2, OPT, Llama, Qwen2 in transformers 4.49): how every attention of a model
is made to call one function of transformers' attention-function registry
(`ALL_ATTENTION_FUNCTIONS`), `attention_implementation`. GPT-2, Llama and Qwen2 call the registry
by their config's `_attn_implementation`; GPT-2 also keeps a copy of that name, from which it builds
its masks; OPT picks an attention class when it is built and never calls the registry, so within the
context its attentions run `_opt_attention_forward`, OPT's own forward with the registry's call in
place of its arithmetic. And the scale of the scores GPT-2's attention applies, which it does not
hand to the registry. Then the two internals that HINT on a causal LM needs: the hook through which
`gradient_checkpointing_enable` checkpoints each layer, and `DynamicCache`'s per-layer lists.
"""

from contextlib import contextmanager
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Union,
)

import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.gpt2.modeling_gpt2 import GPT2Model
from transformers.models.opt.modeling_opt import OPTAttention
from transformers.models.t5.modeling_t5 import (
    T5Attention,
    T5Block,
    T5LayerCrossAttention,
    T5LayerFF,
)

TRANSFORMERS_VERSIONS = (">=4.46", "<4.50")


# Where a block keeps its layers: [self-attention, (cross-attention,) feed-forward].
def self_attention(block: T5Block) -> T5Attention:
    return block.layer[0].SelfAttention


def cross_attention_layer(block: T5Block) -> T5LayerCrossAttention:
    """A decoder block's pre-norm cross-attention with its residual."""
    return block.layer[1]


def cross_attention(block: T5Block) -> T5Attention:
    return cross_attention_layer(block).EncDecAttention


def feed_forward_layer(block: T5Block) -> T5LayerFF:
    return block.layer[-1]


def block_cache(block_kwargs: Dict[str, Any]) -> Optional[Any]:
    """The key/value cache a `T5Block.forward` call got (generation), None without one."""
    return block_kwargs.get("past_key_value")


def cross_attend(
    layer: T5LayerCrossAttention,
    hidden_states: torch.Tensor,
    states: torch.Tensor,
    additive_mask: torch.Tensor,
) -> torch.Tensor:
    """`layer` (pre-norm, residual) from queries [B, Q, d] to `states` [B, t, d] -> [B, Q, d]."""
    return layer(
        hidden_states,
        key_value_states=states,
        attention_mask=additive_mask,
        query_length=hidden_states.size(1),
    )[0]


def feed_forward_with_its_input(
    layer: T5LayerFF, hidden_states: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    `T5LayerFF.forward` -> (its output, the layer-normed input that its feed-forward block read),
    for a module parallel to the block that reads the same input.
    """
    normed = layer.layer_norm(hidden_states)
    return hidden_states + layer.dropout(layer.DenseReluDense(normed)), normed


class PrependedVectors(NamedTuple):
    """
    Key and value vectors prepended to an attention's K and V after its projections: keys and
    values [Bm, heads, n, d_kv] (Bm 1 for one task's vectors, broadcast to the batch without copies,
    or the batch size), an additive mask [Bm, 1, 1, n] or 0, and what they are (`name`).
    """

    name: str
    keys: torch.Tensor
    values: torch.Tensor
    additive_mask: Union[torch.Tensor, float]


class PrependedVectorsT5Attention(T5Attention):
    """
    `T5Attention` whose subclasses prepend vectors of their own (`prepended`) to K and V after the
    key/value projections. They get zero relative-position bias and are not stored in the key/value
    cache (during incremental decoding they are prepended again at every step); the position bias
    handed on to the next layers is the plain one. After the softmax, `reweight` may change the
    weights. With nothing prepended HF's own forward runs; with something, `forward` is HF's
    rewritten around it.
    """

    def prepended(self, dtype: torch.dtype) -> List[PrependedVectors]:
        return []

    def reweight(
        self, attn_weights: torch.Tensor, prepended: List[PrependedVectors]
    ) -> torch.Tensor:
        """The attention weights [B, H, q, n + k] after the softmax, before dropout."""
        return attn_weights

    def forward(
        self,
        hidden_states,
        mask=None,
        key_value_states=None,
        position_bias=None,
        past_key_value=None,
        layer_head_mask=None,
        query_length=None,
        use_cache=False,
        output_attentions=False,
        cache_position=None,
    ):
        prepended = self.prepended(hidden_states.dtype)
        if not prepended:
            return super().forward(
                hidden_states,
                mask=mask,
                key_value_states=key_value_states,
                position_bias=position_bias,
                past_key_value=past_key_value,
                layer_head_mask=layer_head_mask,
                query_length=query_length,
                use_cache=use_cache,
                output_attentions=output_attentions,
                cache_position=cache_position,
            )
        if self.pruned_heads:
            raise NotImplementedError("Prepended vectors need an attention without pruned heads")

        batch_size, seq_length = hidden_states.shape[:2]
        query_states = self.split_heads(self.q(hidden_states), batch_size)  # [B, H, q, d_kv]
        key_states, value_states = self.project_and_cache(
            hidden_states, key_value_states, past_key_value, cache_position, batch_size
        )
        key_length = key_states.shape[-2]
        if position_bias is None:
            position_bias = self.plain_position_bias(
                seq_length, key_length, query_length, cache_position, mask, query_states
            )

        scores = [
            _scores(query_states, vectors.keys) + vectors.additive_mask for vectors in prepended
        ]
        scores.append(
            torch.matmul(query_states, key_states.transpose(3, 2)) + position_bias
        )  # [B, H, q, k]
        scores = torch.cat(scores, dim=-1)  # [B, H, q, n + k]
        attn_weights = nn.functional.softmax(scores.float(), dim=-1).type_as(scores)
        attn_weights = self.reweight(attn_weights, prepended)
        attn_weights = nn.functional.dropout(attn_weights, p=self.dropout, training=self.training)
        if layer_head_mask is not None:
            attn_weights = attn_weights * layer_head_mask

        lengths = [vectors.keys.size(2) for vectors in prepended] + [key_length]
        *prepended_weights, sequence_weights = attn_weights.split(lengths, dim=-1)
        attn_output = torch.matmul(sequence_weights, value_states)  # [B, H, q, d_kv]
        for weights, vectors in zip(prepended_weights, prepended):
            attn_output = attn_output + _weighted_sum(weights, vectors.values)
        # [B, H, q, d_kv] -> [B, q, H * d_kv]
        attn_output = attn_output.transpose(1, 2).contiguous().view(batch_size, -1, self.inner_dim)
        attn_output = self.o(attn_output)

        outputs = (attn_output, past_key_value, position_bias)
        if output_attentions:
            outputs = outputs + (attn_weights,)
        return outputs

    def split_heads(self, states: torch.Tensor, batch_size: int) -> torch.Tensor:
        # [B, len, H * d_kv] -> [B, H, len, d_kv]
        return states.view(batch_size, -1, self.n_heads, self.key_value_proj_dim).transpose(1, 2)

    def project_and_cache(
        self, hidden_states, key_value_states, past_key_value, cache_position, batch_size
    ):
        """
        Keys and values of the sequence (nothing prepended), read from and written to the cache as
        HF does.
        """
        is_cross_attention = key_value_states is not None
        cache = None
        if past_key_value is not None:
            cache = (
                past_key_value.cross_attention_cache
                if is_cross_attention
                else past_key_value.self_attention_cache
            )
            if is_cross_attention and past_key_value.is_updated.get(self.layer_idx):
                return cache.key_cache[self.layer_idx], cache.value_cache[self.layer_idx]

        current_states = key_value_states if is_cross_attention else hidden_states
        key_states = self.split_heads(self.k(current_states), batch_size)
        value_states = self.split_heads(self.v(current_states), batch_size)
        if cache is not None:
            key_states, value_states = cache.update(
                key_states,
                value_states,
                self.layer_idx,
                {"cache_position": None if is_cross_attention else cache_position},
            )
            if is_cross_attention:
                past_key_value.is_updated[self.layer_idx] = True
        return key_states, value_states

    def plain_position_bias(
        self, seq_length, key_length, query_length, cache_position, mask, query_states
    ) -> torch.Tensor:
        """The relative-position bias plus mask that plain T5 computes: [1 or B, H, q, k]."""
        if self.has_relative_attention_bias:
            real_seq_length = query_length if query_length is not None else cache_position[-1] + 1
            position_bias = self.compute_bias(
                real_seq_length,
                key_length,
                device=query_states.device,
                cache_position=cache_position,
            )[:, :, -seq_length:, :]
        else:
            position_bias = query_states.new_zeros((1, self.n_heads, seq_length, key_length))
        if mask is not None:
            position_bias = position_bias + mask[:, :, :, :key_length]
        return position_bias


def _scores(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """
    query [B, H, q, d_kv] against prepended keys [Bm, H, n, d_kv] -> [B, H, q, n]; Bm = 1 is not
    copied B times.
    """
    if keys.size(0) == 1:
        return torch.einsum("bhqd,hnd->bhqn", query, keys[0])
    return torch.matmul(query, keys.transpose(3, 2))


def _weighted_sum(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """weights [B, H, q, n] over prepended values [Bm, H, n, d_kv] -> [B, H, q, d_kv]."""
    if values.size(0) == 1:
        return torch.einsum("bhqn,hnd->bhqd", weights, values[0])
    return torch.matmul(weights, values)


# --- Decoder-only models: every attention through the registry ---------------------------------


def register_attention_function(name: str, function: Callable) -> None:
    """
    `function` as transformers' attention implementation `name`: called as
    `function(module, query [B, H, q, d], key, value [B, kv_heads, k, d], attention_mask, *,
    dropout, scaling, head_mask, ...)` -> (output [B, q, H, d], weights or None).
    """
    ALL_ATTENTION_FUNCTIONS[name] = function


@contextmanager
def attention_implementation(model: PreTrainedModel, name: str) -> Iterator[None]:
    """
    Within the context every attention of `model` is computed by the registered function `name`,
    and the model builds its attention masks as for any implementation other than eager, SDPA and
    flash attention: a 4D additive mask [B, 1, q or 1, k] (GPT-2 without the causal part, which
    its eager attention adds itself).
    """
    config = model.config
    previous_name = config._attn_implementation
    gpt2_models = [module for module in model.modules() if isinstance(module, GPT2Model)]
    opt_attentions = [module for module in model.modules() if isinstance(module, OPTAttention)]
    config._attn_implementation = name
    for gpt2 in gpt2_models:
        gpt2._attn_implementation = name
    for attention in opt_attentions:
        attention.forward = _opt_attention_forward.__get__(attention)
    try:
        yield
    finally:
        config._attn_implementation = previous_name
        for gpt2 in gpt2_models:
            gpt2._attn_implementation = previous_name
        for attention in opt_attentions:
            del attention.forward


def _opt_attention_forward(
    self: OPTAttention,
    hidden_states: torch.Tensor,
    past_key_value: Optional[Any] = None,
    attention_mask: Optional[torch.Tensor] = None,
    layer_head_mask: Optional[torch.Tensor] = None,
    output_attentions: bool = False,
    position_ids: Optional[torch.Tensor] = None,
    cache_position: Optional[torch.Tensor] = None,
):
    """`OPTAttention.forward` with the registry's function in place of its arithmetic."""
    batch_size, length, _ = hidden_states.size()
    # OPT scales the queries before the product: [B, q, H * d] -> [B, H, q, d]
    query_states = self.q_proj(hidden_states) * self.scaling
    query_states = query_states.view(batch_size, -1, self.num_heads, self.head_dim).transpose(1, 2)
    key_states = self.k_proj(hidden_states)
    value_states = self.v_proj(hidden_states)
    key_states = key_states.view(batch_size, -1, self.num_heads, self.head_dim).transpose(1, 2)
    value_states = value_states.view(batch_size, -1, self.num_heads, self.head_dim).transpose(1, 2)
    if past_key_value is not None:
        key_states, value_states = past_key_value.update(
            key_states, value_states, self.layer_idx, {"cache_position": cache_position}
        )
    attention = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
    attn_output, attn_weights = attention(
        self,
        query_states,
        key_states,
        value_states,
        attention_mask,
        dropout=self.dropout if self.training else 0.0,
        scaling=1.0,
        head_mask=layer_head_mask,
    )  # [B, q, H, d]
    attn_output = self.out_proj(attn_output.reshape(batch_size, length, self.embed_dim))
    return attn_output, attn_weights, past_key_value


def attention_scaling(module: nn.Module, head_dim: int, scaling: Optional[float]) -> float:
    """
    The factor of query·key: `scaling` where the model hands it on (Llama, Qwen2, OPT), otherwise
    as GPT-2's eager attention computes it (`scale_attn_weights`,
    `scale_attn_by_inverse_layer_idx`).
    """
    if scaling is not None:
        return scaling
    factor = head_dim**-0.5 if getattr(module, "scale_attn_weights", True) else 1.0
    if getattr(module, "scale_attn_by_inverse_layer_idx", False):
        factor /= float(module.layer_idx + 1)
    return factor


# --- Decoder-only models: gradient checkpointing with HINT's generated modules ----------------

# The models whose layers HF's checkpointing calls without their key/value cache (`None` for
# `layer_past` in `GPT2Model.forward`, for `past_key_value` in `OPTDecoder.forward`): keys and
# values before the prompt would be dropped in training.
CHECKPOINTING_DROPS_PAST_KEY_VALUES = ("gpt2", "opt")


def checkpoint_layers_with(model: PreTrainedModel, checkpoint_function: Callable) -> None:
    """
    Makes the layers that `model.gradient_checkpointing_enable()` checkpoints call
    `checkpoint_function(layer_call, *args, **kwargs)` in place of torch's `checkpoint`
    (`PreTrainedModel._set_gradient_checkpointing`).
    """
    model._set_gradient_checkpointing(enable=True, gradient_checkpointing_func=checkpoint_function)


def cache_restorer(values: Iterable[Any]) -> Callable[[], None]:
    """
    For the `DynamicCache`s among `values` (a checkpointed layer's arguments), a function that puts
    their per-layer keys and values back as they are now: a layer's recomputation in backward
    would otherwise append its keys and values to the cache a second time.
    """
    caches = [
        (value, list(value.key_cache), list(value.value_cache))
        for value in values
        if isinstance(value, DynamicCache)
    ]

    def restore() -> None:
        for cache, keys, cached_values in caches:
            cache.key_cache[:] = keys
            cache.value_cache[:] = cached_values

    return restore
