"""
The T5 attention that task key/value vectors are prepended to: the generated prefixes (`prefix.py`)
and the fused instruction (`instruction_fusion.py`).
"""

from typing import List, Tuple

import torch
from torch import nn
from transformers.models.t5.modeling_t5 import T5Attention

from hint_allennlp.modules.inserted.task_state import ActiveTaskState, TaskState
from hint_allennlp.modules.transformers_internals import (
    PrependedVectors,
    PrependedVectorsT5Attention,
)

# The gate g = sigmoid(GATE_SLOPE * (theta - GATE_OPEN)), theta starting at 1 (see
# TaskVectorT5Attention).
GATE_SLOPE = 40.0
GATE_OPEN = 1.5


class TaskVectorT5Attention(PrependedVectorsT5Attention):
    """
    `T5Attention` with key and value vectors of the task prepended to K and V **after** the
    key/value projections: P generated prefix vectors per head (`add_prefixes`), and, in a decoder
    cross-attention with instruction fusion, the keys and values of the encoded instruction with its
    padding mask, projected here (`fused_instruction`). How they are attended (zero position bias,
    not cached, one task's vectors broadcast to the batch without copies) is
    `transformers_internals.PrependedVectorsT5Attention`'s.

    With a gate (`InsertedModulesConfig.start_as_plain_t5`), a learned g in [0, 1] scales the
    generated prefix's share of the softmax: weights are `[g * e_p, e_x] / (g * sum e_p + sum e_x)`,
    so g = 0 is attention without the prefix and g = 1 ordinary prefix attention.
    g = sigmoid(GATE_SLOPE * (theta - GATE_OPEN)) of a learned theta initialised to 1,
    i.e. g = sigmoid(-20) ~ 2e-9 at the start (plain T5 to float32 precision). Why this form: HF
    Adafactor with `scale_parameter=True` makes each step of a parameter proportional to its RMS (at
    least 1e-3), so at lr 1e-3 theta moves by ~1e-3 of itself per step. A gate stored as 0 would
    move by ~1e-6 per step and stay shut for a whole run; theta near 1 moves ~1e-3 per step, which
    GATE_SLOPE turns into ~0.04 of the logit, so the gate can open within a few hundred steps. The
    sigmoid keeps g in [0, 1]: never negative, so the normaliser never reaches 0.

    Without active parameters this is exactly `T5Attention` (the parent's forward runs).
    """

    @classmethod
    def convert(cls, attention: T5Attention, active: ActiveTaskState) -> "TaskVectorT5Attention":
        """
        Switches `attention` to this class, with no task vectors yet if it was not converted before:
        the prefix kind and instruction fusion each convert the attentions they use, and each adds
        its vectors (`add_prefixes`, `add_fused_instruction`).
        """
        if not isinstance(attention, cls):
            attention.__class__ = cls
            attention.attention_slot = None
            attention.prefix_keys = None
            attention.prefix_gate = None
            attention.fusion_layer = None
        attention.active = active
        return attention

    def add_prefixes(self, keys: Tuple[str, str], attention_slot: int, gated: bool) -> None:
        """
        Prepends the generated prefix of `attention_slot`, the `TaskState` `keys` of its keys
        and values (the prefix kind's), its share gated if `gated`.
        """
        self.prefix_keys = keys
        self.attention_slot = attention_slot
        self.prefix_gate = nn.Parameter(torch.ones(1)) if gated else None

    def add_fused_instruction(self, decoder_layer: int) -> None:
        """
        Prepends the encoded instruction's keys and values (this is `decoder_layer`'s
        cross-attention).
        """
        self.fusion_layer = decoder_layer

    @property
    def prefix_attention(self) -> bool:
        return self.attention_slot is not None

    def prepended(self, dtype: torch.dtype) -> List[PrependedVectors]:
        """
        The generated prefix, then the fused instruction, for those this layer has in the active
        `TaskState`.
        """
        parameters = self.active.current
        if parameters is None:
            return []
        vectors = []
        prefix = (
            parameters.at_slot(self.prefix_keys, self.attention_slot)
            if self.prefix_attention
            else None
        )
        if prefix is not None:
            vectors.append(PrependedVectors("prefix", *prefix, 0.0))
        if self.fusion_layer is not None and parameters.encoded_instruction is not None:
            keys, values, instruction_mask = self.fused_instruction(parameters)
            # [Bm, t] -> [Bm, 1, 1, t]: 0 where attended, the dtype's minimum on padding (as HF)
            additive_mask = (~instruction_mask[:, None, None, :]).to(dtype) * torch.finfo(dtype).min
            vectors.append(PrependedVectors("fused_instruction", keys, values, additive_mask))
        return vectors

    def reweight(
        self, attn_weights: torch.Tensor, prepended: List[PrependedVectors]
    ) -> torch.Tensor:
        """With a gate, the generated prefix's share of the softmax is scaled by it."""
        if self.prefix_gate is None or not prepended or prepended[0].name != "prefix":
            return attn_weights
        return self._gate_prefix(attn_weights, prepended[0].keys.size(2))

    def fused_instruction(
        self, parameters: TaskState
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        (keys, values [Bm, heads, t, d_kv], mask [Bm, t]) of the encoded instruction in `parameters`
        through this cross-attention's k and v (why here: `instruction_fusion.py`).

        Each distinct instruction is projected once and its keys and values gathered per example.
        Without gradient (generation runs the decoder once per token) they are kept on `parameters`,
        so a `generate` call projects once per layer. With gradient every call projects anew: a
        checkpointed block's recomputation then recomputes them rather than reusing a tensor of
        another graph.
        """
        derived_key = ("fused_instruction", self.fusion_layer)
        if not torch.is_grad_enabled() and derived_key in parameters.derived:
            return parameters.derived[derived_key]
        distinct, rows = parameters.distinct_instructions()
        states, mask = distinct.encoded_instruction  # [U, t, d], [U, t]
        num_distinct = states.size(0)
        with self.active.use(distinct):  # each distinct task's generated LoRA on k and v
            # [U, t, H * d_kv] -> [U, H, t, d_kv]
            keys = self.split_heads(self.k(states), num_distinct)
            values = self.split_heads(self.v(states), num_distinct)
        if rows is not None:
            # [U, ...] -> [Bm, ...]
            keys, values, mask = (
                keys.index_select(0, rows),
                values.index_select(0, rows),
                mask.index_select(0, rows),
            )
        projected = (keys, values, mask)
        if not torch.is_grad_enabled():
            parameters.derived[derived_key] = projected
        return projected

    def prefix_gate_value(self) -> torch.Tensor:
        """g in [0, 1], from the learned `prefix_gate` (theta)."""
        return torch.sigmoid(GATE_SLOPE * (self.prefix_gate - GATE_OPEN))

    def _gate_prefix(self, attn_weights: torch.Tensor, prefix_length: int) -> torch.Tensor:
        prefix_weights = attn_weights[..., :prefix_length] * self.prefix_gate_value().to(
            attn_weights.dtype
        )
        sequence_weights = attn_weights[..., prefix_length:]
        normaliser = prefix_weights.sum(-1, keepdim=True) + sequence_weights.sum(-1, keepdim=True)
        return torch.cat([prefix_weights, sequence_weights], dim=-1) / normaliser

    def extra_repr(self) -> str:
        return (
            f"attention_slot={self.attention_slot}, prefix_attention={self.prefix_attention}, "
            f"gated={self.prefix_gate is not None}, fusion_layer={self.fusion_layer}"
        )
