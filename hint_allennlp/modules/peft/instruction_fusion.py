"""
How the encoded instruction reaches the decoder (instruction fusion, paper §3.1): every decoder
cross-attention attends over `[encoded instruction ; encoded input]`.

Concatenating the encoded instruction to every example's encoder output would make each example's
cross-attentions project the t instruction vectors to keys and values again, 2·X·t FLOPs per
example, more than the rest of the example for long instructions. Instead each cross-attention,
inside its own forward (`PrefixT5Attention`), projects each distinct instruction of the batch once
with its own k and v (generated LoRA included) and prepends those keys and values, with the
instruction's padding mask, to the keys and values of each example's input. Cross-attention has no
position bias, so this computes exactly what concatenation computes (tested).

The projection happens inside the cross-attention's forward because a block's weights may exist
only then: under FSDP a sharded block is gathered for its own forward and freed after it.
"""
from typing import Tuple

import torch
from torch import nn

from hint_allennlp.modules.peft.task_parameters import TaskModules


def fused_instruction(
    attention: nn.Module, modules: TaskModules, decoder_layer: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    (keys, values [Bm, heads, t, d_kv], mask [Bm, t]) of the encoded instruction in `modules` through
    the k and v of `attention`, the cross-attention of `decoder_layer`, called from its forward.

    Each distinct instruction is projected once and its keys and values gathered per example.
    Without gradient (generation runs the decoder once per token) they are kept on `modules`, so a
    `generate` call projects once per layer. With gradient every call projects anew: a checkpointed
    block's recomputation then recomputes them rather than reusing a tensor of another graph.
    """
    derived_key = ("fused_instruction", decoder_layer)
    if not torch.is_grad_enabled() and derived_key in modules.derived:
        return modules.derived[derived_key]
    distinct, rows = modules.distinct_instructions()
    states = distinct["instruction_states"]  # [U, t, d]
    num_distinct = states.size(0)
    heads = (attention.n_heads, attention.key_value_proj_dim)
    with attention.active.use(distinct):  # each distinct task's generated LoRA on k and v
        # [U, t, H * d_kv] -> [U, H, t, d_kv]
        keys = attention.k(states).view(num_distinct, -1, *heads).transpose(1, 2)
        values = attention.v(states).view(num_distinct, -1, *heads).transpose(1, 2)
    mask = distinct["instruction_mask"]  # [U, t]
    if rows is not None:
        # [U, ...] -> [Bm, ...]
        keys, values, mask = keys.index_select(0, rows), values.index_select(0, rows), mask.index_select(0, rows)
    projected = (keys, values, mask)
    if not torch.is_grad_enabled():
        modules.derived[derived_key] = projected
    return projected
