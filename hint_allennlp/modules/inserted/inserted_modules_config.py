"""
What the parameter-efficient modules inserted into a backbone are: `MODULE_KINDS`, the kinds in
the order a generator makes them, and `InsertedModulesConfig`, their fields. Adding a kind is one
file beside this one (a `ModuleKind` with its config dataclass, components, layer and injection) and
one entry of `MODULE_KINDS`.
"""

from dataclasses import dataclass
from typing import List, Tuple

from allennlp.common import FromParams

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.inserted.adapter import ADAPTER
from hint_allennlp.modules.inserted.lora import LORA
from hint_allennlp.modules.inserted.module_kind import Component, ModuleKind
from hint_allennlp.modules.inserted.prefix import PREFIX

# The order is that of the generators' components, hence of their weights and of their
# initialisation's draws: changing it changes every trained model's state dict.
MODULE_KINDS: Tuple[ModuleKind, ...] = (ADAPTER, PREFIX, LORA)


# Dataclasses collect fields from the last base to the first: reversed, they come in the kinds'
# order.
@dataclass
class InsertedModulesConfig(*reversed([kind.config_class for kind in MODULE_KINDS]), FromParams):
    """
    Which kinds of modules are inserted into the backbone, and their sizes: the fields of each
    kind's config (`AdapterConfig` in `adapter.py`: `adapter_size`, `use_adapters`; `PrefixConfig`
    in `prefix.py`: `prefix_length`, `use_prefixes`; `LoraConfig` in `lora.py`: `lora_rank`,
    `lora_projections`, `lora_alpha`, `use_lora`), flat (`peft: {adapter_size: 8, use_lora:
    true, ...}`), and the one below. Whether the modules are generated from the instruction or
    learned directly is the parameter generator's business
    (`hint_allennlp.modules.hypernetwork.parameter_generators`).

    # Parameters

    start_as_plain_t5 : `bool`, optional (default = `False`)
        Initialise so that the model with its modules computes what plain T5 computes (to float32):
        the adapters' up-projections and LoRA's B are zero-initialised and each prefix attention
        block gets a learned gate in [0, 1], starting shut (~2e-9), that scales the prefix's share
        of the softmax (gate 1 is ordinary prefix attention; parameterised so that it opens under
        the configs' Adafactor: `task_vector_attention.py`). The reference code has no such option.
        On a decoder-only backbone the prefix gate does not exist (prefixes are keys and values
        before the prompt): there it is refused with prefixes.
    """

    start_as_plain_t5: bool = False

    def __post_init__(self):
        for kind in MODULE_KINDS:
            kind.check(self)

    def enabled_kinds(self) -> List[ModuleKind]:
        return [kind for kind in MODULE_KINDS if kind.enabled(self)]

    def components(self, shape: BackboneShape) -> List[Component]:
        """Every tensor the enabled kinds need, for a backbone of `shape`."""
        return [
            component for kind in self.enabled_kinds() for component in kind.components(shape, self)
        ]

    def values_per_stack(self, shape: BackboneShape) -> Tuple[int, int]:
        """Values of the enabled kinds' tensors in the encoder and in the decoder."""
        sizes = [kind.values_per_stack(shape, self) for kind in self.enabled_kinds()]
        return sum(encoder for encoder, _ in sizes), sum(decoder for _, decoder in sizes)
