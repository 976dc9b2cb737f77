"""
The interface of parameter generators, and the initialisation they share.

A generator turns an encoded instruction into the tensors of a `TaskState`
(`hint_allennlp/modules/inserted/task_state.py`), described component by component
(`InsertedModulesConfig.components`, `Component` in
`hint_allennlp/modules/inserted/module_kind.py`).
"""

from typing import Dict, List, Optional, Tuple

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError
from torch import nn

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.inserted.inserted_modules_config import (
    MODULE_KINDS,
    InsertedModulesConfig,
)
from hint_allennlp.modules.inserted.module_kind import Component, ModuleKind

# Standard deviation of a standard normal truncated to [-2, 2]: the correction that makes a
# truncated draw have the variance asked for, as JAX's `variance_scaling(..., "truncated_normal")`
# makes it.
TRUNCATED_NORMAL_STD = 0.87962566103423978


def mean_over_instruction(
    instruction_states: torch.Tensor, instruction_mask: torch.Tensor
) -> torch.Tensor:
    """The mean of the instruction's states [B, t, d] over its real tokens: [B, d]."""
    mask = instruction_mask.unsqueeze(-1).to(instruction_states.dtype)  # [B, t, 1]
    return (instruction_states * mask).sum(1) / mask.sum(1).clamp(min=1)  # [B, d]


def variance_scaling_(tensor: torch.Tensor, fan_in: int, truncated: bool) -> torch.Tensor:
    """
    Fills `tensor` in place as the reference implementation initialises the generator (Flax
    `variance_scaling(1.0, "fan_in", ...)`): mean 0, standard deviation `1 / sqrt(fan_in)`, from a
    normal distribution or, with `truncated`, from one truncated at two of its standard deviations
    and widened so that the result still has standard deviation `1 / sqrt(fan_in)`.
    """
    std = fan_in**-0.5
    if not truncated:
        return nn.init.normal_(tensor, std=std)
    untruncated_std = std / TRUNCATED_NORMAL_STD
    return nn.init.trunc_normal_(
        tensor, std=untruncated_std, a=-2 * untruncated_std, b=2 * untruncated_std
    )


def init_variance_preserving(module: nn.Module, truncated: bool) -> None:
    """
    Every linear layer in `module` with `variance_scaling_` (std `1 / sqrt(in_features)`), biases at
    zero. The reference draws its MLP kernels from the truncated normal and its attention kernels
    from the normal distribution. Activations keep their scale through the generator, so generated
    values start at a useful size (PyTorch's default would shrink them by about sqrt(3) per layer).
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
    return nn.Parameter(
        variance_scaling_(torch.empty(total_vectors, d_model), d_model, truncated=False)
    )


class ParameterGenerator(nn.Module, Registrable):
    """
    Generates parameter-efficient modules from an encoded instruction.

    Constructed by the model (`Lazy`), which supplies `shape` and `peft`; the remaining
    constructor arguments of each implementation are its configuration.

    `forward(instruction_states [B, t, d_model], instruction_mask [B, t] bool)` returns the
    `TaskState` tensors, each [B, ...] (or [1, ...] for modules that do not depend on the
    instruction). Generators whose `reads_instruction` is False are called with `None, None`.
    `supported_kinds` are the module kinds a generator can make (every kind unless it says
    otherwise): it refuses a `peft` that enables another kind, or none of them.
    """

    default_implementation = "cross_attention"
    reads_instruction = True
    # Whether a separate instruction encoder starts as a copy of the T5 encoder (HyperTune's
    # gins/hypertune.gin restores it from T5) or, False, as new layers reading T5's own token
    # embeddings (`Hypernetwork`).
    pretrained_instruction_encoder = True
    # Whether it embeds the instruction's text with a model of its own (`embed_texts`, Text-to-
    # LoRA's `embedding_model`): the hypernetwork then decodes the instruction with the backbone's
    # tokenizer and passes the embedding [B, 1, e] as the states.
    embeds_text = False
    supported_kinds: Tuple[ModuleKind, ...] = MODULE_KINDS

    def __init__(self, shape: BackboneShape, peft: InsertedModulesConfig) -> None:
        super().__init__()
        self._check_kinds(peft)
        self.shape = shape
        self.peft = peft

    def counted_weights(self) -> Tuple[int, int]:
        """
        The generator's weights as the FLOPs count charges them (`hint_allennlp.cost.flops`): those
        met by each instruction token and those met once per task. By default all of them per
        token, the paper's t·N'.
        """
        return sum(parameter.numel() for parameter in self.parameters()), 0

    def _check_kinds(self, peft: InsertedModulesConfig) -> None:
        enabled = peft.enabled_kinds()
        if enabled and all(kind in self.supported_kinds for kind in enabled):
            return
        name = next(
            (
                registered
                for registered, (subclass, _) in Registrable._registry[ParameterGenerator].items()
                if subclass is type(self)
            ),
            type(self).__name__,
        )
        supported = ", ".join(kind.name for kind in self.supported_kinds)
        fields = ", ".join(kind.enabled_field for kind in self.supported_kinds)
        if len(self.supported_kinds) < len(MODULE_KINDS):
            enabled_names = ", ".join(kind.name for kind in enabled) or "none"
            raise ConfigurationError(
                f"The {name} generator makes {supported} only: set {fields} in peft and unset "
                f"the others (enabled: {enabled_names})"
            )
        raise ConfigurationError(
            f"The {name} generator needs at least one of {supported} in peft ({fields})"
        )

    def forward(
        self, instruction_states: Optional[torch.Tensor], instruction_mask: Optional[torch.Tensor]
    ) -> Dict[str, torch.Tensor]:
        raise NotImplementedError
