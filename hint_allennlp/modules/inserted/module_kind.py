"""
What a generated-module kind (adapter, prefix, LoRA) is to the rest of the package: `ModuleKind`,
and the `Component`s it asks a parameter generator for. Each kind is one file beside this one
(`adapter.py`, `prefix.py`, `lora.py`) and one entry of `inserted_modules_config.MODULE_KINDS`,
which injection, the generators, the cost model and `InsertedModulesConfig` loop over.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from transformers import PreTrainedModel

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.inserted.task_state import ActiveTaskState

if TYPE_CHECKING:
    from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig


@dataclass(frozen=True)
class Component:
    """
    One kind of generated tensor (adapter down-projection, prefix keys, ...), made of
    `vectors_per_slot` vectors of `vector_size` for each of `num_slots` slots, so that a generator
    can make one vector at a time (the paper's column decomposition: its size does not grow with `a`
    or `P`).

    name : the `TaskState` key.
    layout : how `[Bm, num_slots * vectors_per_slot, vector_size]` generated vectors become the
        tensor: "columns" (vectors are the columns of a matrix: [Bm, S, size, n]), "rows"
        ([Bm, S, n, size]), "vector" (n == 1: [Bm, S, size]), "per_head" (vectors are prefix tokens
        of kv_heads * head_dim: [Bm, S, kv_heads, n, head_dim]).
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
            per_head = vectors.view(
                batch_size, self.num_slots, self.vectors_per_slot, num_heads, -1
            )
            return per_head.permute(0, 1, 3, 2, 4)
        raise ValueError(f"Unknown layout {self.layout}")


class ModuleKind:
    """
    One kind of parameter-efficient module inserted into a backbone (the peft "tuner"): its fields
    of `InsertedModulesConfig` (the dataclass `config_class`), the tensors it needs for a backbone's
    shape and slots (`components`), the layers it makes read them (`inject`: T5's switched to
    subclasses, a decoder-only model's given forward hooks, `hint_allennlp/modules/backbones/`), and
    its size (`values_per_stack`), from which its FLOPs and the memory of a cached task follow
    (`hint_allennlp.cost.flops`). Each kind reads its tensors from the active `TaskState` in
    its own layer class or hook, beside its kind.

    name : what the kind is called in tables and messages ("adapters", "prefixes", "lora").
    enabled_field : its `InsertedModulesConfig` field that switches it on (`use_adapters`, ...).
    """

    config_class: type
    name: str
    enabled_field: str

    def enabled(self, config: "InsertedModulesConfig") -> bool:
        return getattr(config, self.enabled_field)

    def check(self, config: "InsertedModulesConfig") -> None:
        """Raises `ConfigurationError` for invalid fields of this kind (enabled or not)."""

    def components(self, shape: BackboneShape, config: "InsertedModulesConfig") -> List[Component]:
        """The tensors this kind needs for a backbone of `shape`, in the generator's order."""
        raise NotImplementedError

    def inject(
        self,
        model: PreTrainedModel,
        shape: BackboneShape,
        config: "InsertedModulesConfig",
        active: ActiveTaskState,
    ) -> None:
        """Makes the layers of `model` (of `shape`) this kind acts in read it from `active`."""
        raise NotImplementedError

    def values_per_stack(
        self, shape: BackboneShape, config: "InsertedModulesConfig"
    ) -> Tuple[int, int]:
        """
        Values of this kind's tensors in the encoder and in the decoder. Every slot layout
        (`task_state.py`) numbers the E encoder layers' slots first, one per layer, so the
        first E slots of every component are the encoder's and the rest the decoder's (all of
        them on a decoder-only model, E = 0).
        """
        encoder = decoder = 0
        for component in self.components(shape, config):
            values_per_slot = component.vectors_per_slot * component.vector_size
            encoder += shape.encoder_layers * values_per_slot
            decoder += (component.num_slots - shape.encoder_layers) * values_per_slot
        return encoder, decoder


def check_at_least_one(config: "InsertedModulesConfig", name: str) -> None:
    if getattr(config, name) < 1:
        raise ConfigurationError(
            f"InsertedModulesConfig.{name} must be at least 1, got {getattr(config, name)}"
        )
