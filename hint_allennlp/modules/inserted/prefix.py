"""
The prefix kind: P generated key and value vectors prepended in every attention (Li and Liang,
2021), after the key/value projections. In T5 (every encoder self-attention, decoder self-attention
and decoder cross-attention) the attention that does it is
`task_vector_attention.TaskVectorT5Attention`. A decoder-only model takes them as the keys and
values of P positions before the prompt, its `past_key_values`
(`modules/serving/instruction_key_values.py`), as peft's prefix tuning does: they take positions
0..P-1, and under rotary embeddings they count as already rotated.

| key | shape |
|---|---|
| `prefix_key`, `prefix_value` | [Bm, E + 2D (T5) or L, kv_heads, P, head_dim] |
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, List

from allennlp.common.checks import ConfigurationError
from transformers import PreTrainedModel

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.backbones.t5 import attention_layers
from hint_allennlp.modules.inserted.module_kind import Component, ModuleKind, check_at_least_one
from hint_allennlp.modules.inserted.task_state import ActiveTaskState
from hint_allennlp.modules.inserted.task_vector_attention import TaskVectorT5Attention

if TYPE_CHECKING:
    from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig

PREFIX_KEYS = ("prefix_key", "prefix_value")


@dataclass
class PrefixConfig:
    """
    The prefix fields of `InsertedModulesConfig`.

    # Parameters

    prefix_length : `int`, optional (default = `7`)
        Number `P` of key and value vectors prepended in every encoder self-attention, decoder
        self-attention and decoder cross-attention.
    use_prefixes : `bool`, optional (default = `True`)
    """

    prefix_length: int = 7
    use_prefixes: bool = True


class Prefix(ModuleKind):
    config_class = PrefixConfig
    name = "prefixes"
    enabled_field = "use_prefixes"

    def check(self, config: PrefixConfig) -> None:
        check_at_least_one(config, "prefix_length")

    def components(self, shape: BackboneShape, config: PrefixConfig) -> List[Component]:
        key_value_width = shape.num_kv_heads * shape.head_dim
        return [
            Component(key, shape.attention_slots, config.prefix_length, key_value_width, "per_head")
            for key in PREFIX_KEYS
        ]

    def inject(
        self,
        model: PreTrainedModel,
        shape: BackboneShape,
        config: "InsertedModulesConfig",
        active: ActiveTaskState,
    ) -> None:
        """
        With `start_as_plain_t5`, each prefix's share of the attention is gated, starting shut
        (T5 only). A decoder-only model changes no layer: its model passes the prefixes.
        """
        if not shape.encoder_decoder:
            if config.start_as_plain_t5:
                raise ConfigurationError(
                    f"peft.start_as_plain_t5 gates T5's prefix attention; a {shape.model_type} "
                    "model takes prefixes as past keys and values, with no gate: set "
                    "start_as_plain_t5 false or use_prefixes false"
                )
            return
        for slot, attention in attention_layers(model):
            TaskVectorT5Attention.convert(attention, active).add_prefixes(
                PREFIX_KEYS, slot, gated=config.start_as_plain_t5
            )


PREFIX = Prefix()
