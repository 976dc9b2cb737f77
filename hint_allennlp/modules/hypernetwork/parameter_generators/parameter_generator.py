"""
The interface of parameter generators and the description of what they generate.

A generator turns an encoded instruction into the tensors of a `TaskModules` (layouts in
`hint_allennlp/modules/peft/task_parameters.py`). Generated tensors are described component by component: a
component is one kind of tensor (adapter down-projection, prefix keys, ...), made of
`vectors_per_slot` vectors of `vector_size` for each of `num_slots` slots, so that a generator can make
one vector at a time (the paper's column decomposition: its size does not grow with `a` or `P`).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from allennlp.common import Registrable
from torch import nn
from transformers import T5Config

from hint_allennlp.modules.peft.injection import attention_slot_count, ffn_slot_count
from hint_allennlp.modules.peft.peft_config import PeftConfig


@dataclass(frozen=True)
class Component:
    """
    name : the `TaskModules` key.
    layout : how `[Bm, num_slots * vectors_per_slot, vector_size]` generated vectors become the
        tensor: "columns" (vectors are the columns of a matrix: [Bm, S, size, n]), "rows" ([Bm, S, n,
        size]), "vector" (n == 1: [Bm, S, size]), "per_head" (vectors are prefix tokens of
        heads * d_kv: [Bm, S, heads, n, d_kv]).
    zero_init : whether `start_as_plain_t5` starts it at zero (it is the last factor of its module).
    """

    name: str
    num_slots: int
    vectors_per_slot: int
    vector_size: int
    layout: str
    zero_init: bool = False

    @property
    def num_vectors(self) -> int:
        return self.num_slots * self.vectors_per_slot

    def arrange(self, vectors: torch.Tensor, num_heads: int) -> torch.Tensor:
        batch_size = vectors.size(0)
        # [Bm, S * n, size] -> [Bm, S, n, size]
        vectors = vectors.view(batch_size, self.num_slots, self.vectors_per_slot, self.vector_size)
        if self.layout == "columns":
            return vectors.transpose(2, 3)
        if self.layout == "rows":
            return vectors
        if self.layout == "vector":
            return vectors.squeeze(2)
        if self.layout == "per_head":
            # [Bm, S, P, H * d_kv] -> [Bm, S, H, P, d_kv]
            per_head = vectors.view(batch_size, self.num_slots, self.vectors_per_slot, num_heads, -1)
            return per_head.permute(0, 1, 3, 2, 4)
        raise ValueError(f"Unknown layout {self.layout}")


def module_components(t5_config: T5Config, peft: PeftConfig) -> List[Component]:
    """Every tensor that `peft` asks for, for a T5 of `t5_config`'s shape."""
    d_model = t5_config.d_model
    inner = t5_config.num_heads * t5_config.d_kv
    ffn_slots, attention_slots = ffn_slot_count(t5_config), attention_slot_count(t5_config)
    components = []
    if peft.use_adapters:
        a = peft.adapter_size
        components += [
            Component("adapter_down", ffn_slots, a, d_model, "columns"),
            Component("adapter_up", ffn_slots, a, d_model, "rows", zero_init=True),
            Component("adapter_down_bias", ffn_slots, 1, a, "vector"),
            Component("adapter_up_bias", ffn_slots, 1, d_model, "vector", zero_init=True),
        ]
    if peft.use_prefixes:
        components += [
            Component("prefix_key", attention_slots, peft.prefix_length, inner, "per_head"),
            Component("prefix_value", attention_slots, peft.prefix_length, inner, "per_head"),
        ]
    if peft.use_lora:
        for projection in peft.lora_projections:
            in_size, out_size = (inner, d_model) if projection == "o" else (d_model, inner)
            components += [
                Component(f"lora_{projection}_a", attention_slots, peft.lora_rank, in_size, "columns"),
                Component(f"lora_{projection}_b", attention_slots, peft.lora_rank, out_size, "rows", zero_init=True),
            ]
    return components


# Standard deviation of a standard normal truncated to [-2, 2]: the correction that makes a truncated
# draw have the variance asked for, as JAX's `variance_scaling(..., "truncated_normal")` makes it.
TRUNCATED_NORMAL_STD = 0.87962566103423978


def variance_scaling_(tensor: torch.Tensor, fan_in: int, truncated: bool) -> torch.Tensor:
    """
    Fills `tensor` in place as the reference implementation initialises the generator (Flax
    `variance_scaling(1.0, "fan_in", ...)`): mean 0, standard deviation `1 / sqrt(fan_in)`, from a normal
    distribution or, with `truncated`, from one truncated at two of its standard deviations and
    widened so that the result still has standard deviation `1 / sqrt(fan_in)`.
    """
    std = fan_in**-0.5
    if not truncated:
        return nn.init.normal_(tensor, std=std)
    untruncated_std = std / TRUNCATED_NORMAL_STD
    return nn.init.trunc_normal_(tensor, std=untruncated_std, a=-2 * untruncated_std, b=2 * untruncated_std)


def init_variance_preserving(module: nn.Module, truncated: bool) -> None:
    """
    Every linear layer in `module` with `variance_scaling_` (std `1 / sqrt(in_features)`), biases at
    zero. The reference draws its MLP kernels from the truncated normal and its attention kernels from
    the normal distribution. Activations keep their scale through the generator, so generated values
    start at a useful size (PyTorch's default would shrink them by about sqrt(3) per layer).
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            variance_scaling_(layer.weight, layer.in_features, truncated)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def component_embeddings(components: List[Component], d_model: int) -> nn.Parameter:
    """
    One learned embedding [d_model] per vector of `components`: [Q, d_model], with variance scaling,
    fan-in d_model, as every other generator weight (the reference's `component_embedding`). Started
    at std 1 instead, the generator's first attention logits would be sqrt(d_model) times too large.
    """
    total_vectors = sum(component.num_vectors for component in components)
    return nn.Parameter(variance_scaling_(torch.empty(total_vectors, d_model), d_model, truncated=False))


class ParameterGenerator(nn.Module, Registrable):
    """
    Generates parameter-efficient modules from an encoded instruction.

    Constructed by the model (`Lazy`), which supplies `t5_config` and `peft`; the remaining
    constructor arguments of each implementation are its configuration.

    `forward(instruction_states [B, t, d_model], instruction_mask [B, t] bool)` returns the
    `TaskModules` tensors, each [B, ...] (or [1, ...] for modules that do not depend on the
    instruction). Generators whose `reads_instruction` is False are called with `None, None`.
    """

    default_implementation = "cross_attention"
    reads_instruction = True

    def __init__(self, t5_config: T5Config, peft: PeftConfig) -> None:
        super().__init__()
        self.t5_config = t5_config
        self.peft = peft

    def forward(
        self, instruction_states: Optional[torch.Tensor], instruction_mask: Optional[torch.Tensor]
    ) -> Dict[str, torch.Tensor]:
        raise NotImplementedError
