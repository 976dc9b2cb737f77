import copy
from dataclasses import dataclass
from typing import Optional, Type, Union

import torch
from torch import nn

from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.peft.task_parameters import (
    ActiveTaskParameters,
    TaskParameters,
    encoded_instruction_tensors,
)


@dataclass(frozen=True)
class ModuleReference:
    """
    A module that another module owns (registers, saves, moves to a device), held without
    registering it a second time: an `nn.Module` attribute would be, and its weights saved twice.
    """

    module: nn.Module


def reads_instruction(
    generator: Union[None, ParameterGenerator, Type[ParameterGenerator]],
    keep_instruction_states: bool,
) -> bool:
    """
    Whether a hypernetwork with `generator` (an instance or its class; None for none) encodes the
    instruction: for fusion (`keep_instruction_states`), or for a generator that reads it.
    """
    return keep_instruction_states or (generator is not None and generator.reads_instruction)


class Hypernetwork(nn.Module):
    """
    Reads an instruction once and returns what every input of its task needs: the generated modules
    and, for instruction fusion, the encoded instruction.

    The instruction encoder (the HyperEncoder) is by default the backbone's own (T5's encoder; a
    decoder-only model's stack of blocks, its base model, whose last hidden states over the
    instruction it gives), run with all generated modules switched off; it is then held by reference
    (`shared_encoder`), not registered a second time, so its weights appear once in the state dict
    (under the backbone). With `separate_encoder` it is a copy of that encoder
    (`instruction_encoder`), initialised from the same checkpoint and trained on its own.

    # Parameters

    encoder : `nn.Module`
        The backbone's encoder, any HF module whose output has `last_hidden_state` (before module
        injection if `separate_encoder`).
    active : `ActiveTaskParameters`
        The switch of the injected layers, turned off while the instruction is encoded.
    generator : `ParameterGenerator`, optional
        None when no modules are generated (instruction fusion only).
    separate_encoder : `bool`
    keep_instruction_states : `bool`
        Whether the returned modules carry the encoded instruction (needed for fusion).
    """

    def __init__(
        self,
        encoder: nn.Module,
        active: ActiveTaskParameters,
        generator: Optional[ParameterGenerator],
        separate_encoder: bool,
        keep_instruction_states: bool,
    ) -> None:
        super().__init__()
        self.instruction_encoder: Optional[nn.Module] = (
            copy.deepcopy(encoder) if separate_encoder else None
        )
        self.shared_encoder: Optional[ModuleReference] = (
            None if separate_encoder else ModuleReference(encoder)
        )
        self.active = active
        self.generator = generator
        self.keep_instruction_states = keep_instruction_states

    @property
    def reads_instruction(self) -> bool:
        return reads_instruction(self.generator, self.keep_instruction_states)

    def forward(
        self, instruction_ids: Optional[torch.Tensor], instruction_mask: Optional[torch.Tensor]
    ) -> TaskParameters:
        """instruction_ids, instruction_mask [B, t] -> TaskParameters with batch B."""
        if not self.reads_instruction:
            return TaskParameters(self.generator(None, None))
        instruction_mask = instruction_mask.bool()
        with self.active.use(None):
            encoder = (
                self.instruction_encoder
                if self.instruction_encoder is not None
                else self.shared_encoder.module
            )
            states = encoder(
                input_ids=instruction_ids, attention_mask=instruction_mask.long()
            ).last_hidden_state  # [B, t, d]
        tensors = self.generator(states, instruction_mask) if self.generator is not None else {}
        if self.keep_instruction_states:
            tensors.update(encoded_instruction_tensors(states, instruction_mask))
        return TaskParameters(tensors)
