"""
Shared-prefix attention for decoder-only HF models (cascade / Hydragen-style inference): every row
of a batch continues a prefix, the keys and values of one of U distinct prefixes (a task's cached
instruction), chosen per row by `task_index` [R]. Each prefix is held once, [U, kv_heads, T,
head_dim] per layer, and attended by all its rows as it is: never expanded, gathered or copied per
row or per step. A row's own keys and values (its input, then what it generates) grow in the
model's usual cache, which holds nothing else.

The model sees each row as one sequence, [prefix (T positions, its padding masked), own tokens]:
its attention mask covers both, so its position ids (GPT-2's absolute, OPT's offset, Llama's
rotary) and its padding and causal masks are the model's own. Only the keys and values of the
first T positions come from the shared copy: in each attention, the scores over the prefix (per
distinct prefix, against its rows' queries) and over the row's own keys are concatenated and
normalised by one softmax, which is attention over the concatenated keys, the prefix's padding
masked as the model masks it.

`shared_prefix(model, prefix)` is the entry point: within it every attention of `model` runs
`shared_prefix_attention` through transformers' attention-function registry
(`modules/transformers_internals.py` makes OPT, which does not call the registry in 4.49, call it).
`prefix_model_inputs` lays out the model's inputs for it: a model with a `Cache` class (OPT, Llama,
Qwen2) gets a cache that counts the prefix's T positions before its own; GPT-2 (legacy tuples) gets
an empty cache and the prompt alone, its mask covering prefix and prompt.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterator, List, Optional

import torch
from transformers import DynamicCache, PreTrainedModel

from hint_allennlp.modules.inserted.task_state import (
    INSTRUCTION_MASK,
    PAST_KEYS,
    PAST_VALUES,
    TaskState,
)
from hint_allennlp.modules.transformers_internals import (
    attention_implementation,
    attention_scaling,
    register_attention_function,
)

# The name the attention is registered under in transformers' attention-function registry.
SHARED_PREFIX_ATTENTION = "hint_shared_prefix"


@dataclass
class SharedPrefix:
    """
    Per layer, the keys and values of U distinct prefixes, each [U, kv_heads, T, head_dim], their
    mask [U, T] (bool, True at real positions) and each row's prefix, `task_index` [R].
    """

    keys: List[torch.Tensor]
    values: List[torch.Tensor]
    mask: torch.Tensor
    task_index: torch.Tensor

    @classmethod
    def from_kept(cls, kept: TaskState, task_index: torch.Tensor) -> "SharedPrefix":
        """
        From the keys and values kept per instruction (`instruction_key_values.py`: [U, T,
        layers, kv_heads, head_dim]), laid out once per layer (one copy per distinct instruction).
        """
        # [U, T, L, kv, d] -> [L, U, kv, T, d]
        keys = kept[PAST_KEYS].permute(2, 0, 3, 1, 4).contiguous()
        values = kept[PAST_VALUES].permute(2, 0, 3, 1, 4).contiguous()
        return cls(list(keys.unbind(0)), list(values.unbind(0)), kept[INSTRUCTION_MASK], task_index)

    @property
    def length(self) -> int:
        return self.mask.size(1)

    def repeated(self, repeats: int) -> "SharedPrefix":
        """Each row `repeats` times in a row (as `generate` expands beams)."""
        return replace(self, task_index=self.task_index.repeat_interleave(repeats))

    def row_mask(self) -> torch.Tensor:
        """Each row's prefix mask [R, T] (a small gather: a mask, not keys or values)."""
        return self.mask[self.task_index]


_active: ContextVar[Optional[SharedPrefix]] = ContextVar("shared_prefix", default=None)


@contextmanager
def shared_prefix(model: PreTrainedModel, prefix: SharedPrefix) -> Iterator[None]:
    """Within the context, `model`'s rows continue `prefix` (inputs from `prefix_model_inputs`)."""
    token = _active.set(prefix)
    try:
        with attention_implementation(model, SHARED_PREFIX_ATTENTION):
            yield
    finally:
        _active.reset(token)


class PrefixCountingCache(DynamicCache):
    """
    A `DynamicCache` of the rows' own keys and values that counts the prefix's `prefix_length`
    positions before them, so that the model's cache positions and causal mask cover the prefix.
    """

    def __init__(self, prefix_length: int) -> None:
        super().__init__()
        self.prefix_length = prefix_length

    def get_seq_length(self, layer_idx: Optional[int] = 0) -> int:
        return self.prefix_length + super().get_seq_length(layer_idx)


def prefix_model_inputs(
    model: PreTrainedModel,
    prefix: SharedPrefix,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    pad_id: int,
    for_generate: bool,
    repeats: int = 1,
) -> Dict[str, Any]:
    """
    The `input_ids`, `attention_mask` and `past_key_values` with which `model` (or its `generate`,
    `for_generate`) continues each row's prefix with its prompt (`input_ids`, `attention_mask`
    [R, n]): the mask [R, T + n] covers prefix and prompt. `repeats`: the rows the model runs per
    row here (`generate`'s beams; the model then runs in `shared_prefix(model,
    prefix.repeated(repeats))`).
    """
    mask = torch.cat([prefix.row_mask().to(attention_mask.dtype), attention_mask], dim=1)
    if getattr(model, "_supports_cache_class", False):
        past: Any = PrefixCountingCache(prefix.length)
        if for_generate:
            # `generate` takes the whole sequence and runs the positions the cache lacks: the
            # prefix's get pad ids, never read.
            input_ids = torch.cat([torch.full_like(mask[:, : prefix.length], pad_id), input_ids], 1)
    else:
        # Legacy tuples, empty: positions and masks come from the mask alone.
        config = model.config
        heads = config.num_attention_heads
        empty = input_ids.new_zeros(
            (input_ids.size(0) * repeats, heads, 0, config.hidden_size // heads), dtype=model.dtype
        )
        past = tuple((empty, empty) for _ in range(config.num_hidden_layers))
    return {"input_ids": input_ids, "attention_mask": mask.long(), "past_key_values": past}


def shared_prefix_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Optional[torch.Tensor],
    dropout: float = 0.0,
    scaling: Optional[float] = None,
    head_mask: Optional[torch.Tensor] = None,
    **kwargs,
):
    """
    Attention of `query` [R, H, q, d] over the active prefix of each row and its own `key`,
    `value` [R, kv_heads, n, d]; `attention_mask` (additive, [R, 1, q or 1, T + n]) covers both.
    Returns the output [R, q, H, d] and the weights [R, H, q, T + n].
    """
    prefix = _active.get()
    if prefix is None:
        raise RuntimeError(
            f"The {SHARED_PREFIX_ATTENTION!r} attention runs only inside `shared_prefix(...)`."
        )
    rows, heads, length, head_dim = query.shape
    kv_heads, own_length, prefix_length = key.size(1), key.size(2), prefix.length
    groups = heads // kv_heads
    factor = attention_scaling(module, head_dim, scaling)
    # Query heads sharing a key/value head: [R, H, q, d] -> [R, kv, G, q, d], scaled (fewer
    # values than the scores)
    grouped = query.reshape(rows, kv_heads, groups, length, head_dim) * factor

    layer = module.layer_idx
    prefix_scores = _per_prefix(
        prefix.keys[layer],
        prefix.task_index,
        grouped,
        lambda q, keys: torch.einsum("rkgqd,knd->rkgqn", q, keys),
    )  # [R, kv, G, q, T]
    own_scores = torch.einsum("rkgqd,rknd->rkgqn", grouped, key)  # [R, kv, G, q, n]
    scores = torch.cat([prefix_scores, own_scores], dim=-1)  # [R, kv, G, q, T + n]
    minimum = torch.finfo(scores.dtype).min
    if length > 1:
        # A key of the row's own is seen by the queries at or after it (GPT-2's masks leave this
        # to the attention).
        hidden = torch.ones(length, own_length, dtype=torch.bool, device=query.device).triu(
            own_length - length + 1
        )  # [q, n]
        scores[..., prefix_length:].masked_fill_(hidden, minimum)
    if attention_mask is None:  # the model saw no padding; the prefixes may have some
        attention_mask = torch.zeros(rows, 1, 1, prefix_length + own_length, dtype=scores.dtype)
        attention_mask[:, 0, 0, :prefix_length].masked_fill_(~prefix.row_mask(), minimum)
    if attention_mask.dtype == torch.bool:
        attention_mask = torch.zeros_like(attention_mask, dtype=scores.dtype).masked_fill(
            ~attention_mask, minimum
        )
    if attention_mask.size(-1) != prefix_length + own_length:
        raise RuntimeError(
            f"The attention mask covers {attention_mask.size(-1)} keys, not the prefix's "
            f"{prefix_length} and the row's {own_length}: build the inputs with "
            "`prefix_model_inputs`."
        )
    # [R, 1, q or 1, T + n] -> [R, 1, 1, q or 1, T + n], over the query heads' groups
    scores.add_(attention_mask.unsqueeze(2).to(scores.dtype))
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
    weights = torch.nn.functional.dropout(weights, p=dropout, training=module.training)
    if head_mask is not None:
        weights = weights * head_mask.view(-1, kv_heads, groups, 1, 1)[: weights.size(0)]
    prefix_weights, own_weights = weights.split([prefix_length, own_length], dim=-1)
    output = _per_prefix(
        prefix.values[layer],
        prefix.task_index,
        prefix_weights,
        lambda w, values: torch.einsum("rkgqn,knd->rkgqd", w, values),
    ).add_(torch.einsum("rkgqn,rknd->rkgqd", own_weights, value))  # [R, kv, G, q, d]
    # [R, kv, G, q, d] -> [R, q, H, d]
    output = output.reshape(rows, heads, length, head_dim).transpose(1, 2)
    return output, weights.reshape(rows, heads, length, -1)


def _per_prefix(
    per_prefix: torch.Tensor, task_index: torch.Tensor, per_row: torch.Tensor, product
) -> torch.Tensor:
    """
    `product(the rows of per_row that continue prefix u, per_prefix[u])` for each distinct prefix
    u (`per_prefix` [U, kv, T, d]), in the rows' order: one product per prefix, nothing of the
    prefix gathered per row.
    """
    if per_prefix.size(0) == 1:
        return product(per_row, per_prefix[0])
    outputs = None
    for task in range(per_prefix.size(0)):
        rows = (task_index == task).nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        result = product(per_row[rows], per_prefix[task])
        if outputs is None:
            outputs = result.new_empty((per_row.size(0),) + result.shape[1:])
        outputs[rows] = result
    return outputs


register_attention_function(SHARED_PREFIX_ATTENTION, shared_prefix_attention)
