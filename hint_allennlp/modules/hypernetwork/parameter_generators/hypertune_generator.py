import copy
from typing import Dict

import torch
from torch import nn
from transformers import T5Config
from transformers.models.t5.modeling_t5 import T5LayerNorm, T5Stack

from hint_allennlp.modules.hf_t5_internals import (
    cross_attend,
    cross_attention_layer,
    feed_forward_layer,
)
from hint_allennlp.modules.hypernetwork.parameter_generators.component_mlp import ComponentMLPs
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
    component_embeddings,
)
from hint_allennlp.modules.peft.peft_config import PeftConfig
from hint_allennlp.modules.peft.prefix import PREFIX


class HyperDecoder(nn.Module):
    """
    A copy of a T5 decoder without its self-attentions: per layer, the pre-norm cross-attention and
    the pre-norm feed-forward block with their dropout and residuals, then the final layer norm and
    dropout, all with the decoder's weights at construction. Queries [Bq, Q, d] (Bq in {1, B})
    attend to states [B, t, d] (mask [B, t] bool) -> [B, Q, d].
    """

    def __init__(self, decoder: T5Stack) -> None:
        super().__init__()
        self.cross_attentions = nn.ModuleList(
            copy.deepcopy(cross_attention_layer(block)) for block in decoder.block
        )
        self.feed_forwards = nn.ModuleList(
            copy.deepcopy(feed_forward_layer(block)) for block in decoder.block
        )
        self.final_layer_norm = copy.deepcopy(decoder.final_layer_norm)
        self.dropout = copy.deepcopy(decoder.dropout)

    def forward(
        self, queries: torch.Tensor, states: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        hidden = queries.expand(states.size(0), -1, -1)  # [B, Q, d]
        # [B, t] -> [B, 1, 1, t]: 0 where attended, the dtype's minimum on padding, as HF masks
        additive_mask = (~mask[:, None, None, :]).to(hidden.dtype) * torch.finfo(hidden.dtype).min
        for cross_attention, feed_forward in zip(self.cross_attentions, self.feed_forwards):
            hidden = feed_forward(cross_attend(cross_attention, hidden, states, additive_mask))
        return self.dropout(self.final_layer_norm(hidden))


@ParameterGenerator.register("hypertune")
class HyperTuneGenerator(ParameterGenerator):
    """
    The HyperTune-like baseline ("+ Decoder" in the paper's Table 6; Phang et al., 2022), as the
    reference builds it (`gins/hypertune.gin`, `layer_embedding_method = "decoder"`): the learned
    embeddings pass through a `HyperDecoder` of the T5 decoder's depth, initialised from the
    pretrained decoder's weights, then through a layer norm per generated component and the
    component MLPs. Prefixes only, as the paper's baseline.

    # Parameters

    t5_config : `T5Config`
        Supplied by the model.
    peft : `PeftConfig`
        Supplied by the model; only prefixes are supported.
    t5_decoder : `T5Stack`
        Supplied by the model: the pretrained T5 decoder the hyper-decoder starts from.
    mlp_dropout : `float`, optional (default = `0.0`)
        Dropout inside the component MLPs.
    """

    supported_kinds = (PREFIX,)

    def __init__(
        self, t5_config: T5Config, peft: PeftConfig, t5_decoder: T5Stack, mlp_dropout: float = 0.0
    ) -> None:
        super().__init__(t5_config, peft)
        components = peft.components(t5_config)
        self.embeddings = component_embeddings(components, t5_config.d_model)
        self.hyper_decoder = HyperDecoder(t5_decoder)
        self.component_norms = nn.ModuleDict(
            {
                component.name: T5LayerNorm(t5_config.d_model, eps=t5_config.layer_norm_epsilon)
                for component in components
            }
        )
        self.mlps = ComponentMLPs(components, t5_config, mlp_dropout, peft.start_as_plain_t5)

    def forward(
        self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        mixed = self.hyper_decoder(
            self.embeddings.unsqueeze(0), instruction_states, instruction_mask
        )  # [B, Q, d]
        normed = [
            self.component_norms[component.name](chunk)
            for component, chunk in zip(self.mlps.components, self.mlps.split(mixed))
        ]
        return self.mlps(torch.cat(normed, dim=1))
