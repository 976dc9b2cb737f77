from dataclasses import dataclass

from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError


@dataclass
class PeftConfig(FromParams):
    """
    What the parameter-efficient modules inserted into T5 are: which kinds, and their sizes. Whether
    they are generated from the instruction or learned directly is the parameter generator's business
    (`hint_allennlp.modules.parameter_generators`); how they act inside a T5 layer is in
    `adapter.py`, `prefix_attention.py` and `lora.py` beside this file.

    # Parameters

    adapter_size : `int`, optional (default = `8`)
        Bottleneck `a` of the adapters placed parallel to every feed-forward block.
    prefix_length : `int`, optional (default = `7`)
        Number `P` of key and value vectors prepended in every encoder self-attention, decoder
        self-attention and decoder cross-attention.
    lora_rank : `int`, optional (default = `4`)
        Rank `r` of the LoRA updates on q/k/v/o (an ablation in the paper, Table 5).
    use_adapters : `bool`, optional (default = `True`)
    use_prefixes : `bool`, optional (default = `True`)
    use_lora : `bool`, optional (default = `False`)
    start_as_plain_t5 : `bool`, optional (default = `False`)
        Initialise so that the model with its modules computes exactly what plain T5 computes:
        the adapters' up-projections and LoRA's B are zero-initialised and each prefix attention
        block gets a learned gate, initialised to 0, that scales the prefix's share of the softmax
        (gate 1 is ordinary prefix attention). The reference code has no such option.
    """

    adapter_size: int = 8
    prefix_length: int = 7
    lora_rank: int = 4
    use_adapters: bool = True
    use_prefixes: bool = True
    use_lora: bool = False
    start_as_plain_t5: bool = False

    def __post_init__(self):
        for name in ("adapter_size", "prefix_length", "lora_rank"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"PeftConfig.{name} must be at least 1, got {getattr(self, name)}")

    @property
    def any_enabled(self) -> bool:
        return self.use_adapters or self.use_prefixes or self.use_lora
