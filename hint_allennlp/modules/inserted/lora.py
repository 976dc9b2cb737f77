"""
The LoRA kind: a generated low-rank update of the attention projections (the paper's Table 5
ablation): T5's `nn.Linear` q/k/v/o switched to `LoraLinear`; in a decoder-only model a forward hook
on each projection's module (`LoraHook`), which adds the update to its part of the output of GPT-2's
fused `c_attn`. The sizes are the projection's (`BackboneShape.projection_sizes`: k and v are
`kv_heads * head_dim` wide under grouped-query attention), checked against each target module.

| key | shape |
|---|---|
| `lora_{p}_a`, p in `lora_projections` (q and v by default) | [Bm, E + 2D or L, in_features, r] |
| `lora_{p}_b` | [Bm, E + 2D or L, r, out_features] |
"""

import logging
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers import PreTrainedModel

from hint_allennlp.modules.backbones.decoder_only import module_sizes, projection_modules
from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.backbones.t5 import attention_layers
from hint_allennlp.modules.inserted.module_kind import Component, ModuleKind, check_at_least_one
from hint_allennlp.modules.inserted.task_state import (
    ActiveTaskState,
    TaskState,
    per_example_matmul,
)

logger = logging.getLogger(__name__)

LORA_PROJECTIONS = ("q", "k", "v", "o")


def lora_keys(projection: str) -> Tuple[str, str]:
    """The `TaskState` keys of A and B of `projection`."""
    return f"lora_{projection}_a", f"lora_{projection}_b"


@dataclass
class LoraConfig:
    """
    The LoRA fields of `InsertedModulesConfig`.

    # Parameters

    lora_rank : `int`, optional (default = `128`)
        Rank `r` of the LoRA updates (Table 5 runs r = 128 and 512: docs/fidelity.md, the LoRA
        row). A rank above min(d_model, heads x d_kv) is warned of when
        the model is built: the update cannot have that rank.
    lora_projections : `Tuple[str, ...]`, optional (default = `("q", "v")`)
        The attention projections that get a LoRA update, of "q", "k", "v", "o"; the reference's
        `lora_ranks=(r, None, r, None)` updates the query and value projections only.
    lora_alpha : `float`, optional (default = `1.0`)
        The update is `x A B * lora_alpha / lora_rank` (Hu et al., 2022; alpha 1 in the reference).
    use_lora : `bool`, optional (default = `False`)
    """

    lora_rank: int = 128
    lora_projections: Tuple[str, ...] = ("q", "v")
    lora_alpha: float = 1.0
    use_lora: bool = False

    @property
    def lora_scale(self) -> float:
        """alpha / r, the factor of LoRA's update."""
        return self.lora_alpha / self.lora_rank


class LoraLinear(nn.Linear):
    """
    A q/k/v/o projection `W` of a T5 attention with a generated low-rank update:
    `x W + (x A) B * scale`, A [Bm, in, r] and B [Bm, r, out] from the active `TaskState` and
    `scale` = alpha / r (`LoraConfig.lora_scale`), as the reference's `lora.py` adds
    `lora_a @ lora_b * (alpha / rank)` to the kernel. Without active parameters, exactly
    `nn.Linear`.
    """

    @classmethod
    def convert(
        cls,
        linear: nn.Linear,
        attention_slot: int,
        projection: str,
        active: ActiveTaskState,
        scale: float,
    ) -> "LoraLinear":
        linear.__class__ = cls
        linear.attention_slot = attention_slot
        linear.projection = projection
        linear.active = active
        linear.scale = scale
        return linear

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        output = super().forward(inputs)
        update = lora_update(
            inputs, self.active.current, self.projection, self.attention_slot, self.scale
        )
        return output if update is None else output + update

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, attention_slot={self.attention_slot}, "
            f"projection={self.projection}, scale={self.scale}"
        )


class LoraHook:
    """
    The forward hook that adds a generated low-rank update to a decoder-only model's projection
    module: `output[..., part] + (x A) B * scale`, `part` the projection's columns of the output
    (all of them, or a third of GPT-2's fused `c_attn`). Without active parameters the module's
    output is left as it is.
    """

    def __init__(
        self,
        attention_slot: int,
        projection: str,
        output_part: slice,
        active: ActiveTaskState,
        scale: float,
    ) -> None:
        self.attention_slot = attention_slot
        self.projection = projection
        self.output_part = output_part
        self.active = active
        self.scale = scale

    def __call__(
        self, module: nn.Module, inputs: Tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> torch.Tensor:
        update = lora_update(
            inputs[0], self.active.current, self.projection, self.attention_slot, self.scale
        )
        if update is None:
            return output
        start, stop, _ = self.output_part.indices(output.size(-1))
        # [B, seq, part] placed at the part's columns of [B, seq, out]
        return output + F.pad(update, (start, output.size(-1) - stop))


def lora_update(
    inputs: torch.Tensor,
    parameters: Optional[TaskState],
    projection: str,
    attention_slot: int,
    scale: float,
) -> Optional[torch.Tensor]:
    """`(x A) B * scale` of `projection` at `attention_slot` in `parameters`, None without it."""
    # (A [Bm, in, r], B [Bm, r, out]) or None
    lora = (
        parameters.at_slot(lora_keys(projection), attention_slot)
        if parameters is not None
        else None
    )
    if lora is None:
        return None
    lora_a, lora_b = lora
    # [B, seq, in] -> [B, seq, r] -> [B, seq, out]
    return per_example_matmul(per_example_matmul(inputs, lora_a), lora_b) * scale


class Lora(ModuleKind):
    config_class = LoraConfig
    name = "lora"
    enabled_field = "use_lora"

    def check(self, config: LoraConfig) -> None:
        """Also makes `lora_projections` a tuple (a config gives a list)."""
        check_at_least_one(config, "lora_rank")
        config.lora_projections = tuple(config.lora_projections)
        unknown = [
            projection
            for projection in config.lora_projections
            if projection not in LORA_PROJECTIONS
        ]
        if unknown or len(set(config.lora_projections)) != len(config.lora_projections):
            raise ConfigurationError(
                "InsertedModulesConfig.lora_projections must be distinct names of q, k, v, o, "
                f"got {list(config.lora_projections)}"
            )
        if config.use_lora and not config.lora_projections:
            raise ConfigurationError(
                "InsertedModulesConfig.use_lora needs at least one of q, k, v, o in "
                "lora_projections"
            )

    def components(self, shape: BackboneShape, config: LoraConfig) -> List[Component]:
        attention_slots = shape.attention_slots
        components = []
        for projection in config.lora_projections:
            in_size, out_size = shape.projection_sizes(projection)
            a_key, b_key = lora_keys(projection)
            components += [
                Component(a_key, attention_slots, config.lora_rank, in_size, "columns"),
                Component(
                    b_key, attention_slots, config.lora_rank, out_size, "rows", zero_init=True
                ),
            ]
        return components

    def inject(
        self,
        model: PreTrainedModel,
        shape: BackboneShape,
        config: LoraConfig,
        active: ActiveTaskState,
    ) -> None:
        warn_of_unusable_rank(shape, config)
        if shape.encoder_decoder:
            for slot, attention in attention_layers(model):
                for projection in config.lora_projections:
                    LoraLinear.convert(
                        getattr(attention, projection), slot, projection, active, config.lora_scale
                    )
            return
        for projection in config.lora_projections:
            for slot, module, output_part in projection_modules(model, projection):
                in_size, out_size = module_sizes(module)
                out_size = len(range(out_size)[output_part])
                if (in_size, out_size) != shape.projection_sizes(projection):
                    raise ConfigurationError(
                        f"LoRA on {projection} of a {shape.model_type} model: its module at layer "
                        f"{slot} maps {in_size} -> {out_size} features, its config "
                        f"{shape.projection_sizes(projection)}: a row of "
                        "hint_allennlp/modules/backbones/architectures.py names the wrong module"
                    )
                module.register_forward_hook(
                    LoraHook(slot, projection, output_part, active, config.lora_scale)
                )


LORA = Lora()


def warn_of_unusable_rank(shape: BackboneShape, config: LoraConfig) -> None:
    """
    Warns when `lora_rank` exceeds the rank that an update of the projections can have. Not refused:
    the model computes what it is asked to (the tiny test T5 runs the paper's r = 128), but the
    rank above the bound only costs.
    """
    d_model, inner = shape.d_model, shape.num_heads * shape.head_dim
    bound = min(d_model, inner)
    if config.lora_rank > bound:
        logger.warning(
            "lora_rank %d is larger than LoRA can use on this backbone (d_model %d, heads x "
            "head_dim %d): "
            "the update x A B of a %d -> %d projection has rank at most %d, so the ranks above %d "
            "add parameters and compute but nothing the update can express, and the scale "
            "lora_alpha / lora_rank makes the update smaller than at rank %d.",
            config.lora_rank,
            d_model,
            inner,
            d_model,
            inner,
            bound,
            bound,
            bound,
        )
