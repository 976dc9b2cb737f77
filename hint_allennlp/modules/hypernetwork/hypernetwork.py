import copy
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Type, Union

import torch
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers import PreTrainedTokenizerBase

from hint_allennlp.modules.hypernetwork.instruction_chunks import encode_in_chunks
from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.inserted.task_state import (
    ActiveTaskState,
    TaskState,
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
    (under the backbone). With `separate_encoder` it is an encoder of its own
    (`instruction_encoder`), trained on its own: a copy of that encoder, initialised from the same
    checkpoint, or, where the generator's `pretrained_instruction_encoder` is False (Hypter, as the
    authors ran it; T5 only), new layers initialised as T5 initialises them that embed with T5's
    token embeddings (the same weight, which therefore appears under both names in the state dict).

    # Parameters

    encoder : `nn.Module`
        The backbone's encoder, any HF module whose output has `last_hidden_state` (before module
        injection if `separate_encoder`).
    active : `ActiveTaskState`
        The switch of the injected layers, turned off while the instruction is encoded.
    generator : `ParameterGenerator`, optional
        None when no modules are generated (instruction fusion only).
    separate_encoder : `bool`
    keep_instruction_states : `bool`
        Whether the returned modules carry the encoded instruction (needed for fusion).
    tokenizer : `PreTrainedTokenizerBase`, optional
        The backbone's, to decode the instruction for a generator that embeds its text
        (`embeds_text`).
    """

    def __init__(
        self,
        encoder: nn.Module,
        active: ActiveTaskState,
        generator: Optional[ParameterGenerator],
        separate_encoder: bool,
        keep_instruction_states: bool,
        tokenizer: Optional[PreTrainedTokenizerBase] = None,
    ) -> None:
        super().__init__()
        if generator is not None and generator.embeds_text and tokenizer is None:
            raise ValueError("a generator that embeds the instruction's text needs the tokenizer")
        self.tokenizer = tokenizer
        self.instruction_encoder: Optional[nn.Module] = None
        if separate_encoder and (generator is None or generator.pretrained_instruction_encoder):
            self.instruction_encoder = copy.deepcopy(encoder)
        elif separate_encoder:
            # New layers around T5's embedding module (T5's initialisation leaves embeddings be).
            self.instruction_encoder = type(encoder)(encoder.config, encoder.get_input_embeddings())
            self.register_load_state_dict_pre_hook(self._refuse_untied_embeddings)
        self.shared_encoder: Optional[ModuleReference] = (
            None if separate_encoder else ModuleReference(encoder)
        )
        self.active = active
        self.generator = generator
        self.keep_instruction_states = keep_instruction_states

    @property
    def reads_instruction(self) -> bool:
        return reads_instruction(self.generator, self.keep_instruction_states)

    def _refuse_untied_embeddings(
        self, module: nn.Module, state_dict: Dict[str, Any], prefix: str, *args: Any
    ) -> None:
        """
        The instruction encoder's token embeddings here are T5's; a state dict in which they
        differ from T5's (a copy trained on its own, as `pretrained_instruction_encoder` makes)
        would overwrite T5's with them. The model loads T5's weights before the hypernetwork's,
        so the weight holds the state dict's T5 embeddings by now.
        """
        loaded = state_dict.get(f"{prefix}instruction_encoder.embed_tokens.weight")
        current = self.instruction_encoder.get_input_embeddings().weight
        if loaded is None or current.is_meta or torch.equal(loaded.to(current.device), current):
            return
        raise ConfigurationError(
            f"{prefix}instruction_encoder.embed_tokens.weight differs from the T5's token "
            "embeddings, which this model's instruction encoder shares: it was saved by a model "
            "whose separate instruction encoder has embeddings of its own. Load it with "
            "`-o '{\"model.parameter_generator.pretrained_instruction_encoder\": true}'`"
        )

    def forward(
        self, instruction_ids: Optional[torch.Tensor], instruction_mask: Optional[torch.Tensor]
    ) -> TaskState:
        """
        instruction_ids, instruction_mask [B, t], or chunks [B, C, c] (`instruction_chunks`) ->
        TaskState with batch B.
        """
        if not self.reads_instruction:
            return TaskState(self.generator(None, None))
        embeds_text = self.generator is not None and self.generator.embeds_text
        texts = self._texts(instruction_ids, instruction_mask) if embeds_text else None
        states = None
        if self.keep_instruction_states or not embeds_text:
            with self.active.use(None):
                encoder = (
                    self.instruction_encoder
                    if self.instruction_encoder is not None
                    else self.shared_encoder.module
                )
                # [B, t, d] and [B, t]; chunks are encoded one by one and concatenated
                states, instruction_mask = encode_in_chunks(
                    lambda ids, mask: (
                        encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
                    ),
                    instruction_ids,
                    instruction_mask.bool(),
                )
        if self.generator is None:
            tensors = {}
        elif embeds_text:
            embedding = self.generator.embed_texts(texts)
            # [B, 1, e]: one pooled embedding per instruction
            tensors = self.generator(embedding, embedding.new_ones(embedding.shape[:2]).bool())
        else:
            tensors = self.generator(states, instruction_mask)
        if self.keep_instruction_states:
            # Modules that do not depend on the instruction ([1, ...], e.g. `learned`'s) for each
            # instruction [B, ...], as its encoded states are.
            tensors = {
                name: tensor.expand(states.size(0), *tensor.shape[1:])
                for name, tensor in tensors.items()
            }
            tensors.update(encoded_instruction_tensors(states, instruction_mask))
        return TaskState(tensors)

    def _texts(self, instruction_ids: torch.Tensor, instruction_mask: torch.Tensor) -> List[str]:
        """Each instruction's real tokens ([B, t] or chunks [B, C, c]) decoded to its text."""
        ids, mask = instruction_ids.flatten(1), instruction_mask.flatten(1).bool()  # [B, t]
        return [
            self.tokenizer.decode(row[row_mask].tolist(), skip_special_tokens=True)
            for row, row_mask in zip(ids, mask)
        ]
