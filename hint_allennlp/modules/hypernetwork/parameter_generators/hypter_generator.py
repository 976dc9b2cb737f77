import logging
from typing import Any, Dict

import torch
from torch import nn

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators.component_mlp import ComponentMLP
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
    mean_over_instruction,
)
from hint_allennlp.modules.inserted.adapter import ADAPTER
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig

logger = logging.getLogger(__name__)


@ParameterGenerator.register("hypter")
class HypterGenerator(ParameterGenerator):
    """
    The Hypter baseline (Ye and Ren, 2021): the mean-pooled encoded instruction goes through one
    `ComponentMLP` per component type (hidden d_model, no bias, output divided by sqrt(d_model))
    whose output is that component for every layer at once. Adapters only (a = 8, 1 at 11B,
    `paper_variants.json`).

    Each MLP makes an adapter for all E + 2D attention blocks, of which the adapters read E + D:
    encoder layer i the i-th, decoder layer j its self-attention block's (E + 2j); the D
    cross-attention blocks' outputs are made and dropped, so the generator has the reference's
    size, which the FLOPs metric charges. Archives of the earlier E + D form still load, widened
    with zeros.
    Follows allenai/hyper-task-descriptions `gins/hypter.gin` and `hyper_network.py`
    (`Hypernet.setup`); details in docs/fidelity.md, "Generators".

    # Parameters

    shape : `BackboneShape`
        Supplied by the model.
    peft : `InsertedModulesConfig`
        Supplied by the model; only adapters are supported.
    mlp_dropout : `float`, optional (default = `0.0`)
        Dropout inside the MLPs.
    pretrained_instruction_encoder : `bool`, optional (default = `False`)
        With the model's `separate_instruction_encoder`, whether that encoder starts as a copy of
        the backbone's encoder (True) or, as the authors ran Hypter, as new layers (initialised as
        T5 initialises them) that read T5's own token embeddings, one weight for both (False; T5
        backbones only; docs/fidelity.md, "Generators").
    """

    supported_kinds = (ADAPTER,)

    def __init__(
        self,
        shape: BackboneShape,
        peft: InsertedModulesConfig,
        mlp_dropout: float = 0.0,
        pretrained_instruction_encoder: bool = False,
    ) -> None:
        super().__init__(shape, peft)
        self.pretrained_instruction_encoder = pretrained_instruction_encoder
        self.components = peft.components(shape)
        # The attention blocks whose adapters the feed-forward slots read (`task_state.py`).
        self.read_blocks = shape.ffn_attention_slots()
        self.generated_blocks = shape.attention_slots
        self.mlps = nn.ModuleDict(
            {
                component.name: ComponentMLP(
                    shape.d_model,
                    self.generated_blocks * component.vectors_per_slot * component.vector_size,
                    mlp_dropout,
                    zero_init=peft.start_as_plain_t5 and component.zero_init,
                )
                for component in self.components
            }
        )
        self.register_load_state_dict_pre_hook(self._widen_earlier_output_weights)

    def _widen_earlier_output_weights(
        self, module: nn.Module, state_dict: Dict[str, Any], prefix: str, *args: Any
    ) -> None:
        """
        Rewrites, in the state dict being loaded, each MLP output weight of the earlier shape
        [E + D blocks * n * size, d] as [E + 2D blocks * n * size, d]: its rows at the read blocks,
        zeros at the others.
        """
        for component in self.components:
            key = f"{prefix}mlps.{component.name}.output.weight"
            weight = state_dict.get(key)
            per_block = component.vectors_per_slot * component.vector_size
            if weight is None or weight.size(0) != len(self.read_blocks) * per_block:
                continue
            widened = weight.new_zeros(self.generated_blocks, per_block, weight.size(1))
            # [S * n * size, d] -> [S, n * size, d], placed at the read blocks
            widened[self.read_blocks] = weight.view(len(self.read_blocks), per_block, -1)
            state_dict[key] = widened.view(-1, weight.size(1))
            logger.warning(
                "%s has the earlier hypter shape (outputs for %d attention blocks); widened to "
                "all %d, zeros for the cross-attention blocks no adapter reads: the adapters "
                "made are unchanged.",
                key,
                len(self.read_blocks),
                self.generated_blocks,
            )

    def forward(
        self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        pooled = mean_over_instruction(instruction_states, instruction_mask)  # [B, d]
        batch_size = pooled.size(0)
        tensors = {}
        for component in self.components:
            # [B, blocks * n * size] -> [B, blocks, n, size] -> the read slots [B, S, n, size]
            per_block = self.mlps[component.name](pooled).view(
                batch_size, self.generated_blocks, component.vectors_per_slot, -1
            )
            read = per_block[:, self.read_blocks]
            # [B, S * n, size] -> the component's layout
            tensors[component.name] = component.arrange(
                read.reshape(batch_size, component.num_vectors, component.vector_size),
                self.shape.num_kv_heads,
            )
        return tensors
