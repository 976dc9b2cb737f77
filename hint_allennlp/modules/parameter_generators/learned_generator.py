from typing import Dict, Optional

import torch
from torch import nn
from transformers import T5Config

from hint_allennlp.modules.parameter_generators.parameter_generator import ParameterGenerator, module_components
from hint_allennlp.modules.peft_config import PeftConfig


@ParameterGenerator.register("learned")
class LearnedModules(ParameterGenerator):
    """
    Ordinary parameter-efficient modules, learned directly and shared by every task: the
    "Tk-Instruct + PEFT" baseline. It ignores the instruction, so the hypernetwork never runs, and
    its tensors have batch size 1 (broadcast to the batch).

    # Parameters

    t5_config : `T5Config`
        Supplied by the model.
    peft : `PeftConfig`
        Supplied by the model.
    init_std : `float`, optional (default = `0.02`)
        Standard deviation of the initial values (up-projections and LoRA B start at zero when
        `peft.start_as_plain_t5`).
    """

    reads_instruction = False

    def __init__(self, t5_config: T5Config, peft: PeftConfig, init_std: float = 0.02) -> None:
        super().__init__(t5_config, peft)
        self.components = module_components(t5_config, peft)
        self.values = nn.ParameterDict()
        for component in self.components:
            scale = 0.0 if peft.start_as_plain_t5 and component.zero_init else init_std
            self.values[component.name] = nn.Parameter(
                torch.randn(1, component.num_vectors, component.vector_size) * scale
            )

    def forward(
        self, instruction_states: Optional[torch.Tensor] = None, instruction_mask: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        return {
            component.name: component.arrange(self.values[component.name], self.t5_config.num_heads)
            for component in self.components
        }
