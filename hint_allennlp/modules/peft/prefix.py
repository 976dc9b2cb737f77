"""
The prefix kind: P generated key and value vectors prepended in every encoder self-attention,
decoder self-attention and decoder cross-attention of T5 (Li and Liang, 2021), after the key/value
projections; the attention that does it is `task_vector_attention.TaskVectorT5Attention`.

| key | shape |
|---|---|
| `prefix_key`, `prefix_value` | [Bm, E + 2D, heads, P, d_kv] |
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, List

from transformers import T5Config, T5ForConditionalGeneration

from hint_allennlp.modules.peft.module_kind import Component, ModuleKind, check_at_least_one
from hint_allennlp.modules.peft.t5_layers import attention_layers, attention_slot_count
from hint_allennlp.modules.peft.task_parameters import ActiveTaskParameters
from hint_allennlp.modules.peft.task_vector_attention import TaskVectorT5Attention

if TYPE_CHECKING:
    from hint_allennlp.modules.peft.peft_config import PeftConfig

PREFIX_KEYS = ("prefix_key", "prefix_value")


@dataclass
class PrefixConfig:
    """
    The prefix fields of `PeftConfig`.

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

    def components(self, t5_config: T5Config, config: PrefixConfig) -> List[Component]:
        attention_slots, inner = (
            attention_slot_count(t5_config),
            t5_config.num_heads * t5_config.d_kv,
        )
        return [
            Component(key, attention_slots, config.prefix_length, inner, "per_head")
            for key in PREFIX_KEYS
        ]

    def inject(
        self, t5: T5ForConditionalGeneration, config: "PeftConfig", active: ActiveTaskParameters
    ) -> None:
        """
        With `start_as_plain_t5`, each prefix's share of the attention is gated, starting shut.
        """
        for slot, attention in attention_layers(t5):
            TaskVectorT5Attention.convert(attention, active).add_prefixes(
                PREFIX_KEYS, slot, gated=config.start_as_plain_t5
            )


PREFIX = Prefix()
