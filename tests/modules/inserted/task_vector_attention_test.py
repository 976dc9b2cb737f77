"""
The `start_as_plain_t5` prefix gate (a project option; the reference has none): it starts shut, it
opens under the optimiser the configs use, and it is never negative. On one encoder self-attention
of the tiny T5's shape, with prefixes of known values.
"""

import torch
from transformers import T5Config
from transformers.models.t5.modeling_t5 import T5Attention
from transformers.optimization import Adafactor

from hint_allennlp.modules.inserted.prefix import PREFIX_KEYS
from hint_allennlp.modules.inserted.task_state import ActiveTaskState, TaskState
from hint_allennlp.modules.inserted.task_vector_attention import TaskVectorT5Attention
from tests import TINY_T5

CONFIG = T5Config.from_pretrained(TINY_T5)
PREFIX_LENGTH = 3


def _attention(gated: bool, seed: int = 0):
    torch.manual_seed(seed)
    attention = T5Attention(CONFIG, has_relative_attention_bias=True).eval()  # no attention dropout
    active = ActiveTaskState()
    TaskVectorT5Attention.convert(attention, active).add_prefixes(PREFIX_KEYS, 0, gated=gated)
    shape = (1, 1, CONFIG.num_heads, PREFIX_LENGTH, CONFIG.d_kv)  # [Bm, slots, H, P, d_kv]
    modules = TaskState({"prefix_key": torch.randn(shape), "prefix_value": torch.randn(shape)})
    hidden_states = torch.randn(2, 7, CONFIG.d_model)
    return attention, active, modules, hidden_states


def _output(attention, active, modules, hidden_states) -> torch.Tensor:
    """The attention's output [B, q, d] with `modules` active."""
    with active.use(modules):
        return attention(hidden_states, cache_position=torch.arange(hidden_states.size(1)))[0]


def _plain_output(attention, active, hidden_states) -> torch.Tensor:
    """The attention's output [B, q, d] with its modules off (plain T5 attention)."""
    return _output(attention, active, None, hidden_states)


def _train_gate(sign: float, steps: int = 50):
    """
    `steps` of the configs' Adafactor on the gate alone, on a loss linear in the output that rewards
    (sign -1) or penalises (sign 1) moving the output towards what ordinary prefix attention gives.
    Returns the gate before and after.
    """
    attention, active, modules, hidden_states = _attention(gated=True)
    ordinary, ordinary_active, _, _ = _attention(gated=False)  # same seed: same weights
    with torch.no_grad():
        direction = _output(ordinary, ordinary_active, modules, hidden_states) - _plain_output(
            attention, active, hidden_states
        )
    optimizer = Adafactor(
        [attention.prefix_gate],
        lr=1e-3,
        relative_step=False,
        scale_parameter=True,
        warmup_init=False,
    )
    before = attention.prefix_gate_value().item()
    for _ in range(steps):
        loss = sign * (_output(attention, active, modules, hidden_states) * direction).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return before, attention.prefix_gate_value().item()


def test_gate_starts_shut_and_opens_under_the_configs_adafactor():
    """
    HF `Adafactor(lr=1e-3, relative_step=False, scale_parameter=True)`, as
    training_configs/hint.libsonnet (paper §4) configures it: Adafactor scales a parameter's step by
    its RMS (at least 1e-3), so a gate stored as 0 would move by ~1e-6 a step. In 50 steps this
    one's logit moves by ~50 · 1e-3 · 40.
    """
    before, after = _train_gate(sign=-1.0)
    assert before < 1e-8
    assert after > 5 * before, (before, after)


def test_gate_is_never_negative_and_the_output_stays_finite():
    before, after = _train_gate(sign=1.0)
    assert 0 <= after < before
    attention, active, modules, hidden_states = _attention(gated=True)
    attention.prefix_gate.data.fill_(-1e6)  # far past shut: g is exactly 0, not below
    assert attention.prefix_gate_value().item() == 0
    with torch.no_grad():
        output = _output(attention, active, modules, hidden_states)
        plain = _plain_output(attention, active, hidden_states)
    assert torch.isfinite(output).all()
    torch.testing.assert_close(output, plain, atol=1e-5, rtol=0)


def test_open_gate_is_ordinary_prefix_attention():
    gated, gated_active, modules, hidden_states = _attention(gated=True)
    ordinary, active, _, _ = _attention(gated=False)
    gated.prefix_gate.data.fill_(10.0)  # g = 1 in float32
    with torch.no_grad():
        torch.testing.assert_close(
            _output(gated, gated_active, modules, hidden_states),
            _output(ordinary, active, modules, hidden_states),
        )


def test_prefixes_and_fusion_each_convert_the_attention_and_keep_the_others_vectors():
    attention = T5Attention(CONFIG, has_relative_attention_bias=False)
    active = ActiveTaskState()
    TaskVectorT5Attention.convert(attention, active).add_prefixes(PREFIX_KEYS, 3, gated=True)
    gate = attention.prefix_gate
    assert (
        TaskVectorT5Attention.convert(attention, active) is attention
    )  # a second conversion adds nothing
    attention.add_fused_instruction(0)
    assert (attention.attention_slot, attention.prefix_gate, attention.fusion_layer) == (3, gate, 0)
    assert sorted(dict(attention.named_parameters())) == [
        "k.weight",
        "o.weight",
        "prefix_gate",
        "q.weight",
        "v.weight",
    ]
