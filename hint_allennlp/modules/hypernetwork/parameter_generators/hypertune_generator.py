import copy
from typing import Any, Dict, Optional

import torch
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers.models.t5.modeling_t5 import T5LayerNorm, T5Stack

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators.component_mlp import (
    ComponentMLP,
    ComponentMLPs,
)
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
    component_embeddings,
    variance_scaling_,
)
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.prefix import PREFIX
from hint_allennlp.modules.transformers_internals import (
    cross_attend,
    cross_attention_layer,
    feed_forward_layer,
)


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
    The decoder generator of HyperTune (Phang et al., 2022): learned queries pass through a
    `HyperDecoder` of the T5 decoder's depth, initialised from the pretrained decoder's weights,
    then through a layer norm per generated component and the component MLPs. Prefixes only.

    - `all_slots_at_once: false` (Table 1 "HyperTune"): one query per generated vector of every
      slot; each MLP output is one vector.
    - `all_slots_at_once: true` (Table 6 "+ Decoder"): `queries_per_vector` (q) queries per vector
      of a slot, shared by all slots. The hyper-decoder's q outputs for a vector are put side by
      side (q·d_model), layer-normed, and the component's MLP (q·d_model → d_model → slots ×
      vector size, outputs divided by sqrt(q·d_model)) makes that vector for every slot at once.
      q = 1 is what the "+ Decoder" runs were scripted with, q = 16 the released code.

    Follows allenai/hyper-task-descriptions `hyper_network.py` (`Hypernet.setup`,
    `layer_embedding_method = "decoder"`), `gins/hypertune.gin`, `gins/hypertune_embed.gin`;
    which commit has which q: docs/fidelity.md, "Generators".

    # Parameters

    shape : `BackboneShape`
        Supplied by the model.
    peft : `InsertedModulesConfig`
        Supplied by the model; only prefixes are supported.
    t5_decoder : `T5Stack`, optional
        Supplied by the model: the pretrained T5 decoder the hyper-decoder starts from. A
        decoder-only backbone has none, and is refused: HyperTune is T5's by design.
    all_slots_at_once : `bool`, optional (default = `False`)
        As above.
    queries_per_vector : `int`, optional (default = `1`)
        With `all_slots_at_once`, the learned queries per generated vector of a slot (as above);
        without it, one query per vector of every slot, and only 1 is accepted.
    mlp_dropout : `float`, optional (default = `0.0`)
        Dropout inside the component MLPs.
    """

    supported_kinds = (PREFIX,)

    def __init__(
        self,
        shape: BackboneShape,
        peft: InsertedModulesConfig,
        t5_decoder: Optional[T5Stack] = None,
        all_slots_at_once: bool = False,
        queries_per_vector: int = 1,
        mlp_dropout: float = 0.0,
    ) -> None:
        super().__init__(shape, peft)
        if t5_decoder is None:
            raise ConfigurationError(
                f"The hypertune generator copies a T5 decoder; a {shape.model_type} backbone has "
                "none: choose another parameter_generator (cross_attention, text_to_lora, ...)"
            )
        if queries_per_vector < 1 or (queries_per_vector != 1 and not all_slots_at_once):
            raise ConfigurationError(
                f"The hypertune generator's queries_per_vector must be 1, or at least 1 with "
                f"all_slots_at_once (got {queries_per_vector}, all_slots_at_once "
                f"{all_slots_at_once})"
            )
        components = peft.components(shape)
        self.components = components
        self.all_slots_at_once = all_slots_at_once
        self.queries_per_vector = queries_per_vector
        d_model = shape.d_model
        # Registered in this order (embeddings, hyper-decoder, norms, MLPs) in both forms: the
        # state dict's order, and the order of the initialisation's draws.
        if all_slots_at_once:
            queries = queries_per_vector * sum(c.vectors_per_slot for c in components)
            self.embeddings = nn.Parameter(
                variance_scaling_(torch.empty(queries, d_model), d_model, truncated=False)
            )
        else:
            self.embeddings = component_embeddings(components, d_model)
        self.hyper_decoder = HyperDecoder(t5_decoder)
        # What a component's norm and MLP read: a vector's q decoder outputs side by side.
        input_size = queries_per_vector * d_model
        self.component_norms = nn.ModuleDict(
            {
                component.name: T5LayerNorm(input_size, eps=shape.layer_norm_eps)
                for component in components
            }
        )
        if all_slots_at_once:
            self.mlps = nn.ModuleDict(
                {
                    component.name: ComponentMLP(
                        d_model,
                        component.num_slots * component.vector_size,
                        mlp_dropout,
                        zero_init=peft.start_as_plain_t5 and component.zero_init,
                        input_size=input_size,
                    )
                    for component in components
                }
            )
        else:
            self.mlps = ComponentMLPs(components, shape, mlp_dropout, peft.start_as_plain_t5)
        self.register_load_state_dict_pre_hook(self._refuse_another_query_count)

    def _refuse_another_query_count(
        self, module: nn.Module, state_dict: Dict[str, Any], prefix: str, *args: Any
    ) -> None:
        """
        A state dict of another `queries_per_vector` (archives of the "+ Decoder" generator made
        before the setting have 16) fails on shapes; this says which setting loads it.
        """
        embeddings = state_dict.get(f"{prefix}embeddings")
        if embeddings is None or embeddings.shape == self.embeddings.shape:
            return
        vectors = sum(component.vectors_per_slot for component in self.components)
        if not self.all_slots_at_once or embeddings.size(0) % vectors:
            return  # another shape altogether: torch's size-mismatch error names it
        queries = embeddings.size(0) // vectors
        raise ConfigurationError(
            f"{prefix}embeddings holds {queries} learned queries per generated vector, this "
            f"hypertune generator has queries_per_vector {self.queries_per_vector}: load it with "
            f"`-o '{{\"model.parameter_generator.queries_per_vector\": {queries}}}'`"
        )

    def forward(
        self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        mixed = self.hyper_decoder(
            self.embeddings.unsqueeze(0), instruction_states, instruction_mask
        )  # [B, Q, d]
        if not self.all_slots_at_once:
            normed = [
                self.component_norms[component.name](chunk)
                for component, chunk in zip(self.mlps.components, self.mlps.split(mixed))
            ]
            return self.mlps(torch.cat(normed, dim=1))
        batch_size = mixed.size(0)
        # [B, q * n_total, d] -> [B, n_total, q * d]: each vector's q outputs side by side
        per_vector = mixed.reshape(batch_size, -1, self.queries_per_vector * mixed.size(-1))
        chunks = per_vector.split([component.vectors_per_slot for component in self.components], 1)
        tensors = {}
        for component, chunk in zip(self.components, chunks):
            # [B, n, S * size] -> [B, S * n, size], read in the reference's order -> the layout
            generated = self.mlps[component.name](self.component_norms[component.name](chunk))
            tensors[component.name] = component.arrange(
                generated.reshape(batch_size, component.num_vectors, component.vector_size),
                self.shape.num_kv_heads,
            )
        return tensors
