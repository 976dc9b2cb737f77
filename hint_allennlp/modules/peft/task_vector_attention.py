"""
The T5 attention that task key/value vectors are prepended to: the generated prefixes (`prefix.py`)
and the fused instruction (`instruction_fusion.py`).
"""

from typing import Any, List, Optional, Tuple

import torch
from torch import nn
from transformers.models.t5.modeling_t5 import T5Attention

from hint_allennlp.modules.peft.task_parameters import ActiveTaskParameters, TaskParameters

# The gate g = sigmoid(GATE_SLOPE * (theta - GATE_OPEN)), theta starting at 1 (see
# TaskVectorT5Attention).
GATE_SLOPE = 40.0
GATE_OPEN = 1.5


class TaskVectorT5Attention(T5Attention):
    """
    `T5Attention` with key and value vectors of the task prepended to K and V **after** the
    key/value projections: P generated prefix vectors per head (`add_prefixes`), and, in a decoder
    cross-attention with instruction fusion, the keys and values of the encoded instruction with its
    padding mask, projected here (`fused_instruction`). Both get zero relative-position bias and
    are not stored in the key/value cache: during incremental decoding they are prepended again at
    every step. They keep their batch size: one task's vectors (batch 1) serve every example without
    copies. The position bias handed on to the next layers is the plain one, so layers with and
    without them mix.

    With a gate (`PeftConfig.start_as_plain_t5`), a learned g in [0, 1] scales the generated
    prefix's share of the softmax: weights are `[g * e_p, e_x] / (g * sum e_p + sum e_x)`, so g = 0
    is attention without the prefix and g = 1 ordinary prefix attention.
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
    def convert(
        cls, attention: T5Attention, active: ActiveTaskParameters
    ) -> "TaskVectorT5Attention":
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
        Prepends the generated prefix of `attention_slot`, the `TaskParameters` `keys` of its keys
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
        parameters = self.active.current
        task_vectors, prefix_length = self._task_vectors(parameters, hidden_states.dtype)
        if not task_vectors:
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
            raise NotImplementedError("Prefixes are not supported on attention with pruned heads")

        batch_size, seq_length = hidden_states.shape[:2]
        # [B, q, H * d_kv] -> [B, H, q, d_kv]
        query_states = self._split_heads(self.q(hidden_states), batch_size)
        key_states, value_states = self._project_and_cache(
            hidden_states, key_value_states, past_key_value, cache_position, batch_size
        )
        key_length = key_states.shape[-2]
        if position_bias is None:
            position_bias = self._plain_position_bias(
                seq_length, key_length, query_length, cache_position, mask, query_states
            )

        scores = [
            _scores(query_states, keys) + additive_mask for keys, _, additive_mask in task_vectors
        ]
        scores.append(
            torch.matmul(query_states, key_states.transpose(3, 2)) + position_bias
        )  # [B, H, q, k]
        scores = torch.cat(scores, dim=-1)  # [B, H, q, P + t + k]
        attn_weights = nn.functional.softmax(scores.float(), dim=-1).type_as(scores)
        if self.prefix_gate is not None and prefix_length:
            attn_weights = self._gate_prefix(attn_weights, prefix_length)
        attn_weights = nn.functional.dropout(attn_weights, p=self.dropout, training=self.training)
        if layer_head_mask is not None:
            attn_weights = attn_weights * layer_head_mask

        lengths = [keys.size(2) for keys, _, _ in task_vectors] + [key_length]
        *task_weights, sequence_weights = attn_weights.split(lengths, dim=-1)
        attn_output = torch.matmul(sequence_weights, value_states)  # [B, H, q, d_kv]
        for weights, (_, values, _) in zip(task_weights, task_vectors):
            attn_output = attn_output + _weighted_sum(weights, values)
        # [B, H, q, d_kv] -> [B, q, H * d_kv]
        attn_output = attn_output.transpose(1, 2).contiguous().view(batch_size, -1, self.inner_dim)
        attn_output = self.o(attn_output)

        outputs = (attn_output, past_key_value, position_bias)
        if output_attentions:
            outputs = outputs + (attn_weights,)
        return outputs

    def _task_vectors(
        self, parameters: Optional[TaskParameters], dtype: torch.dtype
    ) -> Tuple[List[Tuple[torch.Tensor, torch.Tensor, Any]], int]:
        """
        (keys [Bm, H, n, d_kv], values [Bm, H, n, d_kv], additive mask [Bm, 1, 1, n] or 0) of the
        generated prefix, then of the fused instruction, for those this layer has; and P (0 without
        prefix).
        """
        if parameters is None:
            return [], 0
        vectors = []
        prefix = (
            parameters.at_slot(self.prefix_keys, self.attention_slot)
            if self.prefix_attention
            else None
        )
        if prefix is not None:
            vectors.append((*prefix, 0.0))
        if self.fusion_layer is not None and parameters.encoded_instruction is not None:
            keys, values, instruction_mask = self.fused_instruction(parameters)
            # [Bm, t] -> [Bm, 1, 1, t]: 0 where attended, the dtype's minimum on padding (as HF)
            additive_mask = (~instruction_mask[:, None, None, :]).to(dtype) * torch.finfo(dtype).min
            vectors.append((keys, values, additive_mask))
        return vectors, prefix[0].size(2) if prefix is not None else 0

    def fused_instruction(
        self, parameters: TaskParameters
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
            keys = self._split_heads(self.k(states), num_distinct)
            values = self._split_heads(self.v(states), num_distinct)
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

    def _split_heads(self, states: torch.Tensor, batch_size: int) -> torch.Tensor:
        # [B, len, H * d_kv] -> [B, H, len, d_kv]
        return states.view(batch_size, -1, self.n_heads, self.key_value_proj_dim).transpose(1, 2)

    def _project_and_cache(
        self, hidden_states, key_value_states, past_key_value, cache_position, batch_size
    ):
        """
        Keys and values of the sequence (no prefix), read from and written to the cache as HF does.
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
        key_states = self._split_heads(self.k(current_states), batch_size)
        value_states = self._split_heads(self.v(current_states), batch_size)
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

    def _plain_position_bias(
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


def _scores(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """
    query [B, H, q, d_kv] against a task's keys [Bm, H, n, d_kv] -> [B, H, q, n]; Bm = 1 is not
    copied B times.
    """
    if keys.size(0) == 1:
        return torch.einsum("bhqd,hnd->bhqn", query, keys[0])
    return torch.matmul(query, keys.transpose(3, 2))


def _weighted_sum(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """weights [B, H, q, n] over a task's values [Bm, H, n, d_kv] -> [B, H, q, d_kv]."""
    if values.size(0) == 1:
        return torch.einsum("bhqn,hnd->bhqd", weights, values[0])
    return torch.matmul(weights, values)
