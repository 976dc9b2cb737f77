"""
The generator starts as the reference implementation starts it: every weight and the learned query
embeddings drawn with variance scaling, fan-in, std 1/sqrt(fan_in) (Flax `variance_scaling(1.0,
"fan_in", ...)`), from the normal distribution for the embeddings and the attention and from the
normal truncated at two standard deviations for the component MLPs.
"""

import math

import torch
from transformers import T5Config

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators import CrossAttentionGenerator
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    variance_scaling_,
)
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig

# Large enough for tight statistics (each weight matrix has >= 65k values),
# small enough to build fast.
CONFIG = T5Config(d_model=256, d_kv=32, num_heads=8, d_ff=512, num_layers=2, num_decoder_layers=2)
PEFT = InsertedModulesConfig(adapter_size=16, prefix_length=8)


def _assert_std(values: torch.Tensor, expected: float, name: str) -> None:
    values = values.detach().flatten().double()
    assert abs(values.mean().item()) < 0.05 * expected, name
    assert abs(values.std().item() / expected - 1) < 0.03, (
        f"{name}: std {values.std().item():.4g}, expected {expected:.4g}"
    )


def test_query_embeddings_have_std_one_over_sqrt_d_model():
    """
    allenai/hyper-task-descriptions, hyper_task_descriptions/modeling/hyper_network.py
    (`Hypernet.setup`, `component_embedding`:
    `variance_scaling(1.0, "fan_in", "normal", out_axis=0)` over [components, emb_dim], so fan-in =
    emb_dim). With std 1 the first attention logits would be sqrt(d_model) = 16 times too large
    here.
    """
    torch.manual_seed(0)
    generator = CrossAttentionGenerator(BackboneShape.from_config(CONFIG), PEFT)
    _assert_std(generator.embeddings, CONFIG.d_model**-0.5, "embeddings")
    # An untruncated normal: about 4.6% of the values beyond two standard deviations.
    beyond = (generator.embeddings.abs() > 2 * CONFIG.d_model**-0.5).float().mean().item()
    assert 0.035 < beyond < 0.06


def test_every_generator_weight_has_std_one_over_sqrt_fan_in():
    """
    hyper_task_descriptions/modeling/hyper_network.py: the cross-attention is t5x's
    `MultiHeadDotProductAttention` (kernels `variance_scaling(1.0, "fan_in", "normal")`; its query
    kernel is further divided by sqrt(head_dim) where we scale the logits instead, which gives the
    same logits), the component MLPs are `layers.MlpBlock`
    (hyper_task_descriptions/modeling/layers.py,
    `variance_scaling(1.0, "fan_in", "truncated_normal")`).
    """
    torch.manual_seed(0)
    generator = CrossAttentionGenerator(BackboneShape.from_config(CONFIG), PEFT)
    linears = [
        (name, module)
        for name, module in generator.named_modules()
        if isinstance(module, torch.nn.Linear)
    ]
    assert len(linears) == 4 + 2 * len(generator.mlps)
    for name, linear in linears:
        std = linear.in_features**-0.5
        _assert_std(linear.weight, std, name)
        # Truncated at 2 standard deviations of the widened normal: 2 / 0.8796 = 2.27 of the result,
        # beyond which an untruncated normal puts 2.3% of its values.
        beyond_truncation = (
            (linear.weight.abs() > 2 * std / 0.87962566103423978 + 1e-6).float().mean().item()
        )
        if name.startswith("mlps."):
            assert beyond_truncation == 0, name
        else:
            assert beyond_truncation > 0.015, name


def test_first_attention_logits_start_as_the_reference_ones():
    """
    What the init is for: over an encoded instruction of unit-variance vectors the reference's first
    attention logits have std 1/sqrt(d_model) (unit-norm queries; kernels as above), so the
    attention starts nearly uniform. Queries of std 1 would make them sqrt(d_model) times larger.
    """
    torch.manual_seed(0)
    generator = CrossAttentionGenerator(BackboneShape.from_config(CONFIG), PEFT)
    attention = generator.attention
    states = torch.randn(1, 64, CONFIG.d_model)
    with torch.no_grad():
        query = attention._split_heads(
            attention.query(generator.embeddings.unsqueeze(0))
        )  # [1, H, Q, k]
        key = attention._split_heads(attention.key(states))  # [1, H, t, k]
        logits = query @ key.transpose(-1, -2) / math.sqrt(CONFIG.d_kv)
    assert abs(logits.std().item() * math.sqrt(CONFIG.d_model) - 1) < 0.15


def test_truncated_variance_scaling_keeps_the_variance():
    torch.manual_seed(0)
    values = variance_scaling_(torch.empty(400, 400), fan_in=100, truncated=True)
    _assert_std(values, 0.1, "truncated")
    assert values.abs().max().item() <= 0.2 / 0.87962566103423978 + 1e-7
