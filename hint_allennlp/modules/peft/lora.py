"""
The LoRA kind: a generated low-rank update of T5's attention projections (the paper's Table 5
ablation).

| key | shape |
|---|---|
| `lora_{p}_a`, p in `lora_projections` (q and v by default) | [Bm, E + 2D, in_features, r] |
| `lora_{p}_b` | [Bm, E + 2D, r, out_features] |
"""

import logging
from dataclasses import dataclass
from typing import List, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers import T5Config, T5ForConditionalGeneration

from hint_allennlp.modules.peft.module_kind import Component, ModuleKind, check_at_least_one
from hint_allennlp.modules.peft.t5_layers import attention_layers, attention_slot_count
from hint_allennlp.modules.peft.task_parameters import ActiveTaskParameters, per_example_matmul

logger = logging.getLogger(__name__)

LORA_PROJECTIONS = ("q", "k", "v", "o")


def lora_keys(projection: str) -> Tuple[str, str]:
    """The `TaskParameters` keys of A and B of `projection`."""
    return f"lora_{projection}_a", f"lora_{projection}_b"


@dataclass
class LoraConfig:
    """
    The LoRA fields of `PeftConfig`.

    # Parameters

    lora_rank : `int`, optional (default = `128`)
        Rank `r` of the LoRA updates (an ablation in the paper, Table 5, with r = 128 and 512: the
        reference's scripts `ni_train_only_lora_no_fid_smaller.sh` and
        `ni_train_only_lora_no_fid.sh`). A rank above min(d_model, heads x d_kv) is warned of when
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
    `x W + (x A) B * scale`, A [Bm, in, r] and B [Bm, r, out] from the active `TaskParameters` and
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
        active: ActiveTaskParameters,
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
        parameters = self.active.current
        # (A [Bm, in, r], B [Bm, r, out]) or None
        lora = (
            parameters.at_slot(lora_keys(self.projection), self.attention_slot)
            if parameters is not None
            else None
        )
        if lora is None:
            return output
        lora_a, lora_b = lora
        # [B, seq, in] -> [B, seq, r] -> [B, seq, out]
        return output + per_example_matmul(per_example_matmul(inputs, lora_a), lora_b) * self.scale

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, attention_slot={self.attention_slot}, "
            f"projection={self.projection}, scale={self.scale}"
        )


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
                "PeftConfig.lora_projections must be distinct names of q, k, v, o, "
                f"got {list(config.lora_projections)}"
            )
        if config.use_lora and not config.lora_projections:
            raise ConfigurationError(
                "PeftConfig.use_lora needs at least one of q, k, v, o in lora_projections"
            )

    def components(self, t5_config: T5Config, config: LoraConfig) -> List[Component]:
        d_model, inner = t5_config.d_model, t5_config.num_heads * t5_config.d_kv
        attention_slots = attention_slot_count(t5_config)
        components = []
        for projection in config.lora_projections:
            # q, k, v: d_model -> heads * d_kv; o back
            in_size, out_size = (inner, d_model) if projection == "o" else (d_model, inner)
            a_key, b_key = lora_keys(projection)
            components += [
                Component(a_key, attention_slots, config.lora_rank, in_size, "columns"),
                Component(
                    b_key, attention_slots, config.lora_rank, out_size, "rows", zero_init=True
                ),
            ]
        return components

    def inject(
        self, t5: T5ForConditionalGeneration, config: LoraConfig, active: ActiveTaskParameters
    ) -> None:
        warn_of_unusable_rank(t5.config, config)
        for slot, attention in attention_layers(t5):
            for projection in config.lora_projections:
                LoraLinear.convert(
                    getattr(attention, projection), slot, projection, active, config.lora_scale
                )


LORA = Lora()


def warn_of_unusable_rank(t5_config: T5Config, config: LoraConfig) -> None:
    """
    Warns when `lora_rank` exceeds the rank that an update of the projections can have. Not refused:
    the model computes what it is asked to (the tiny test T5 runs the paper's r = 128), but the
    rank above the bound only costs.
    """
    d_model, inner = t5_config.d_model, t5_config.num_heads * t5_config.d_kv
    bound = min(d_model, inner)
    if config.lora_rank > bound:
        logger.warning(
            "lora_rank %d is larger than LoRA can use on this T5 (d_model %d, heads x d_kv %d): "
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
