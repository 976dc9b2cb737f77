"""
The keys and values of an instruction in every layer of a decoder-only HF model: as this package
keeps them (in a `TaskState`, one row per instruction, so that the task cache, `index_select`
per example and compiled-task files work as for HINT's generated modules) and as HF's models take
them back. The one place that knows HF's cache formats (transformers 4.49: GPT-2 returns and takes
a tuple of `(key, value)` per layer, each [B, kv_heads, t, head_dim]; models that set
`_supports_cache_class` (OPT, Llama, Qwen) a `DynamicCache`, which converts from and to that
tuple).

Kept keys: `instruction_mask` [Bm, t] (bool), `past_keys` and `past_values`
[Bm, t, layers, kv_heads, head_dim] (the instruction's length in dimension 1, as every
`INSTRUCTION_LENGTH_KEYS` tensor, so that batching pads it and keeping trims it).
"""

from typing import Any, List, Tuple

import torch
from transformers import DynamicCache, PreTrainedModel

from hint_allennlp.modules.inserted.task_state import TaskState

KEPT_KEYS = ("instruction_mask", "past_keys", "past_values")


def as_layer_tuples(past_key_values: Any) -> Tuple[Tuple[torch.Tensor, torch.Tensor], ...]:
    """HF's `past_key_values` (a `Cache` or the legacy tuple) as one (key, value) per layer."""
    if hasattr(past_key_values, "to_legacy_cache"):
        return past_key_values.to_legacy_cache()
    return tuple(past_key_values)


def instruction_key_values(
    past_key_values: Any, instruction_mask: torch.Tensor, skip: int = 0
) -> TaskState:
    """
    What a forward pass over instructions [U, t] (padded on the right) returned as
    `past_key_values`, as kept: `past_keys`, `past_values` [U, t, layers, kv_heads, head_dim]; the
    first `skip` positions (a generated prefix the pass continued from) left out.
    """
    layers = as_layer_tuples(past_key_values)
    # each [U, kv_heads, skip + t, head_dim] -> stacked [U, t, layers, kv_heads, head_dim]
    keys = torch.stack([key for key, _ in layers], dim=1).permute(0, 3, 1, 2, 4)[:, skip:]
    values = torch.stack([value for _, value in layers], dim=1).permute(0, 3, 1, 2, 4)[:, skip:]
    return TaskState(
        {
            "instruction_mask": instruction_mask.bool(),
            "past_keys": keys.contiguous(),
            "past_values": values.contiguous(),
        }
    )


def hf_past_key_values(model: PreTrainedModel, kept: TaskState) -> Any:
    """
    Kept keys and values [B, t, ...] as `model` takes `past_key_values` (a new object: HF's
    generation extends the cache it is given in place).
    """
    keys, values = kept["past_keys"], kept["past_values"]
    layers = tuple(
        # [B, t, kv_heads, head_dim] -> [B, kv_heads, t, head_dim]
        (keys[:, :, layer].transpose(1, 2), values[:, :, layer].transpose(1, 2))
        for layer in range(keys.size(2))
    )
    if getattr(model, "_supports_cache_class", False):
        return DynamicCache.from_legacy_cache(layers)
    return layers


def generated_prefix_key_values(parameters: TaskState) -> TaskState:
    """
    Generated prefixes (`prefix_key`, `prefix_value` [Bm, layers, kv_heads, P, head_dim],
    `modules/inserted/prefix.py`) as kept keys and values of P always attended positions.
    """
    # [Bm, layers, kv_heads, P, head_dim] -> [Bm, P, layers, kv_heads, head_dim]
    keys = parameters["prefix_key"].permute(0, 3, 1, 2, 4)
    values = parameters["prefix_value"].permute(0, 3, 1, 2, 4)
    mask = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)
    return TaskState({"instruction_mask": mask, "past_keys": keys, "past_values": values})


def prefixed(parts: List[TaskState]) -> TaskState:
    """
    Kept keys and values (and masks) of the same rows, one after the other in each row (one part:
    itself).
    """
    if len(parts) == 1:
        return parts[0]
    return TaskState({key: torch.cat([part[key] for part in parts], dim=1) for key in KEPT_KEYS})
