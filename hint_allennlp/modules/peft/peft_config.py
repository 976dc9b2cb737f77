from dataclasses import dataclass
from typing import Tuple

from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError

from hint_allennlp.modules.peft.task_parameters import LORA_PROJECTIONS


@dataclass
class PeftConfig(FromParams):
    """
    What the parameter-efficient modules inserted into T5 are: which kinds, and their sizes. Whether
    they are generated from the instruction or learned directly is the parameter generator's business
    (`hint_allennlp.modules.hypernetwork.parameter_generators`); how they act inside a T5 layer is in
    `adapter.py`, `prefix_attention.py` and `lora.py` beside this file.

    # Parameters

    adapter_size : `int`, optional (default = `8`)
        Bottleneck `a` of the adapters placed parallel to every feed-forward block.
    prefix_length : `int`, optional (default = `7`)
        Number `P` of key and value vectors prepended in every encoder self-attention, decoder
        self-attention and decoder cross-attention.
    lora_rank : `int`, optional (default = `128`)
        Rank `r` of the LoRA updates (an ablation in the paper, Table 5, with r = 128 and 512: the
        reference's scripts `ni_train_only_lora_no_fid_smaller.sh` and `ni_train_only_lora_no_fid.sh`).
    lora_projections : `Tuple[str, ...]`, optional (default = `("q", "v")`)
        The attention projections that get a LoRA update, of "q", "k", "v", "o"; the reference's
        `lora_ranks=(r, None, r, None)` updates the query and value projections only.
    lora_alpha : `float`, optional (default = `1.0`)
        The update is `x A B * lora_alpha / lora_rank` (Hu et al., 2022; alpha 1 in the reference).
    use_adapters : `bool`, optional (default = `True`)
    use_prefixes : `bool`, optional (default = `True`)
    use_lora : `bool`, optional (default = `False`)
    start_as_plain_t5 : `bool`, optional (default = `False`)
        Initialise so that the model with its modules computes what plain T5 computes (to float32):
        the adapters' up-projections and LoRA's B are zero-initialised and each prefix attention
        block gets a learned gate in [0, 1], starting shut (~2e-9), that scales the prefix's share of
        the softmax (gate 1 is ordinary prefix attention; parameterised so that it opens under the
        configs' Adafactor: `prefix_attention.py`). The reference code has no such option.
    """

    adapter_size: int = 8
    prefix_length: int = 7
    lora_rank: int = 128
    lora_projections: Tuple[str, ...] = ("q", "v")
    lora_alpha: float = 1.0
    use_adapters: bool = True
    use_prefixes: bool = True
    use_lora: bool = False
    start_as_plain_t5: bool = False

    def __post_init__(self):
        for name in ("adapter_size", "prefix_length", "lora_rank"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"PeftConfig.{name} must be at least 1, got {getattr(self, name)}")
        self.lora_projections = tuple(self.lora_projections)
        unknown = [projection for projection in self.lora_projections if projection not in LORA_PROJECTIONS]
        if unknown or len(set(self.lora_projections)) != len(self.lora_projections):
            raise ConfigurationError(
                f"PeftConfig.lora_projections must be distinct names of q, k, v, o, got {list(self.lora_projections)}"
            )
        if self.use_lora and not self.lora_projections:
            raise ConfigurationError("PeftConfig.use_lora needs at least one of q, k, v, o in lora_projections")

    @property
    def lora_scale(self) -> float:
        """alpha / r, the factor of LoRA's update."""
        return self.lora_alpha / self.lora_rank

    @property
    def any_enabled(self) -> bool:
        return self.use_adapters or self.use_prefixes or self.use_lora
