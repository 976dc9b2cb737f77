from typing import Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from torch import nn
from transformers import AutoModel, AutoTokenizer

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
    mean_over_instruction,
)
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.lora import LORA, lora_keys

VARIANTS = ("large", "medium", "small")
# How `embedding_model`'s states become one embedding: its first token's (T2L's for gte models),
# its last real token's (T2L's default), or their mean.
POOLINGS = ("last_token", "cls", "mean")


def _expanding_mlp(size: int, output_size: int, dropout: float) -> List[nn.Module]:
    """Linear(size -> 4 size), SiLU, dropout, Linear(4 size -> output_size), SiLU."""
    return [
        nn.Linear(size, 4 * size),
        nn.SiLU(),
        nn.Dropout(dropout),
        nn.Linear(4 * size, output_size),
        nn.SiLU(),
    ]


class ResidualMLP(nn.Module):
    """`x + (LayerNorm, expanding MLP, dropout)(x)`: T2L's `MLPResidualBlock`."""

    def __init__(self, size: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(size), *_expanding_mlp(size, size, dropout), nn.Dropout(dropout)
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.mlp(inputs)


@ParameterGenerator.register("text_to_lora")
class TextToLoraGenerator(ParameterGenerator):
    """
    Text-to-LoRA (Charakorn et al., ICML 2025), following `HyperModulator` in
    SakanaAI/text-to-lora's `src/hyper_llm_modulator/hyper_modulator.py` (read in a fork with the
    same file): LoRA only, for every attention slot and every projection of
    `peft.lora_projections`.

    1. A task embedding, encoded (`TaskEncoder`: Linear to latent/2, LayerNorm). T2L embeds the
       task description with a separate embedding model (`get_emb_model_and_fns` in its
       `src/hyper_llm_modulator/utils/model_loading.py`: an HF `AutoModel` by name, frozen, its
       own tokenizer, the first or last token's state); by default here it is the hypernetwork
       encoder's states over the instruction, mean-pooled over its real tokens (this project's
       choice: the HINT encoder, the backbone itself by default, so that HINT and T2L read the
       instruction alike). `embedding_model` is T2L's way: the instruction, decoded with the
       backbone's tokenizer, is embedded by that model, frozen.
    2. Learned layer-depth and module-type embeddings (latent/4 each, LayerNorm), concatenated
       with it: one latent-sized input per (slot, projection).
    3. The mixer (dropout, expanding MLP, dropout), residual MLP blocks and the last MLP to
       `head_in_size`, all with T2L's dropout 0.05.
    4. One head per projection type, in T2L's three sizes: `large`, A and B of all ranks at once
       (output r·(in + out)); `medium`, one head shared by A and B, told apart by a learned
       embedding of each added before the second residual block (output r·max(in, out), cut to
       size); `small`, as medium but one rank at a time (output max(in, out)), the rank told by a
       learned rank embedding.

    Its LoRA scaling, `lora_alpha / r`, is the LoRA kind's (`InsertedModulesConfig.lora_alpha`,
    `lora_rank`). What of T2L is not here: docs/fidelity.md, "Generators".

    # Parameters

    shape : `BackboneShape`
        Supplied by the model.
    peft : `InsertedModulesConfig`
        Supplied by the model; only LoRA is supported.
    variant : `str`, optional (default = `"large"`)
        "large", "medium" or "small" (above).
    latent_size : `int`, optional (default = `128`)
        The width of the mixed embedding (T2L's `latent_size`).
    head_in_size : `int`, optional (default = `512`)
        The heads' input width (T2L's `head_in_size`).
    dropout : `float`, optional (default = `0.05`)
        T2L's dropout, everywhere in the generator.
    embedding_model : `str`, optional (default = `None`)
        An HF model (hub name or local path, loaded with `AutoModel`; an encoder-decoder's encoder)
        that embeds the instruction's text, with its own tokenizer, frozen and in evaluation mode.
        Its weights are saved with the model; the name or path must also be loadable wherever
        the archive is loaded. The FLOPs count charges the hypernetwork encoder's pass in its
        place (`counted_weights`). None: the hypernetwork encoder's states.
    embedding_pooling : `str`, optional (default = `"last_token"`)
        How `embedding_model`'s states are pooled: "last_token", "cls" or "mean" (above).
    """

    supported_kinds = (LORA,)

    def __init__(
        self,
        shape: BackboneShape,
        peft: InsertedModulesConfig,
        variant: str = "large",
        latent_size: int = 128,
        head_in_size: int = 512,
        dropout: float = 0.05,
        embedding_model: Optional[str] = None,
        embedding_pooling: str = "last_token",
    ) -> None:
        super().__init__(shape, peft)
        if embedding_pooling not in POOLINGS:
            raise ConfigurationError(
                f"text_to_lora embedding_pooling must be one of {', '.join(POOLINGS)}, "
                f"got {embedding_pooling!r}"
            )
        if variant not in VARIANTS:
            raise ConfigurationError(
                f"text_to_lora variant must be one of {', '.join(VARIANTS)}, got {variant!r}"
            )
        if peft.start_as_plain_t5:
            raise ConfigurationError(
                "text_to_lora has no start_as_plain_t5 initialisation (its heads make A and B "
                "together): set peft.start_as_plain_t5 false"
            )
        if latent_size % 4:
            raise ConfigurationError(
                f"text_to_lora latent_size must be a multiple of 4, got {latent_size}"
            )
        self.variant = variant
        self.rank = peft.lora_rank
        self.projections = tuple(peft.lora_projections)
        # (in, out) of each projection's update, from its A and B components.
        components = {component.name: component for component in peft.components(shape)}
        self.sizes: Dict[str, Tuple[int, int]] = {
            projection: tuple(components[key].vector_size for key in lora_keys(projection))
            for projection in self.projections
        }
        self.num_slots = shape.attention_slots
        self.embeds_text = embedding_model is not None
        self.embedding_pooling = embedding_pooling
        embedding_size = shape.d_model
        if self.embeds_text:
            self.embedding_tokenizer = AutoTokenizer.from_pretrained(embedding_model)
            self.embedding_tokenizer.padding_side = "right"  # `last_token` counts real tokens
            if self.embedding_tokenizer.pad_token_id is None:
                self.embedding_tokenizer.pad_token = self.embedding_tokenizer.eos_token
            embedder = AutoModel.from_pretrained(embedding_model)
            if embedder.config.is_encoder_decoder:
                embedder = embedder.get_encoder()
            self.embedding_model = embedder.eval().requires_grad_(False)
            embedding_size = embedder.config.hidden_size
        self.task_encoder = nn.Sequential(
            nn.Linear(embedding_size, latent_size // 2), nn.LayerNorm(latent_size // 2)
        )
        self.layer_depth = nn.Sequential(
            nn.Embedding(self.num_slots, latent_size // 4), nn.LayerNorm(latent_size // 4)
        )
        self.module_type = nn.Sequential(
            nn.Embedding(len(self.projections), latent_size // 4), nn.LayerNorm(latent_size // 4)
        )
        self.mixer = nn.Sequential(
            nn.Dropout(dropout),
            *_expanding_mlp(latent_size, latent_size, dropout),
            nn.Dropout(dropout),
        )
        self.residual_1 = ResidualMLP(latent_size, dropout)
        self.residual_2 = ResidualMLP(latent_size, dropout)
        self.to_head = nn.Sequential(
            nn.LayerNorm(latent_size), *_expanding_mlp(latent_size, head_in_size, dropout)
        )
        if variant != "large":
            # The learned embedding of A and of B, per projection type (T2L's `out_emb`).
            self.factor_embeddings = nn.Parameter(
                torch.randn(len(self.projections), 2, latent_size)
            )
            self.factor_norm = nn.LayerNorm(latent_size)
        if variant == "small":
            self.rank_embeddings = nn.Sequential(
                nn.Embedding(self.rank, latent_size), nn.LayerNorm(latent_size)
            )
        self.heads = nn.ModuleDict(
            {
                projection: nn.Linear(head_in_size, self._head_output_size(*sizes), bias=False)
                for projection, sizes in self.sizes.items()
            }
        )

    def train(self, mode: bool = True) -> "TextToLoraGenerator":
        super().train(mode)
        if self.embeds_text:
            self.embedding_model.eval()  # frozen: no dropout either
        return self

    def embed_texts(self, texts: List[str]) -> torch.Tensor:
        """`embedding_model`'s pooled embedding of each text: [B, 1, e]."""
        device = self.task_encoder[0].weight.device
        encoded = self.embedding_tokenizer(
            texts, padding=True, truncation=True, return_tensors="pt"
        )
        mask = encoded["attention_mask"].to(device).bool()  # [B, n]
        with torch.no_grad():
            states = self.embedding_model(
                input_ids=encoded["input_ids"].to(device), attention_mask=mask.long()
            ).last_hidden_state  # [B, n, e]
        if self.embedding_pooling == "cls":
            pooled = states[:, 0]
        elif self.embedding_pooling == "last_token":
            pooled = states[torch.arange(states.size(0), device=device), mask.sum(1) - 1]
        else:
            pooled = mean_over_instruction(states, mask)
        return pooled.unsqueeze(1)  # [B, 1, e]

    def _head_output_size(self, in_size: int, out_size: int) -> int:
        if self.variant == "large":
            return self.rank * (in_size + out_size)
        return (self.rank if self.variant == "medium" else 1) * max(in_size, out_size)

    def counted_weights(self) -> Tuple[int, int]:
        """
        None per instruction token: the generator reads one pooled embedding per task. Once per
        task: the task encoder, then for every (slot, projection) the mixer and the first residual
        block, and for each of its head passes (1 for `large`, 2 for `medium`, 2r for `small`) the
        second residual block, the MLP to the head and the projection's head (weight matrices;
        embeddings are lookups). With `embedding_model`, the FLOPs count still charges the
        hypernetwork encoder's pass over the instruction, which that model's pass replaces.
        """

        def weights(module: nn.Module) -> int:
            return sum(
                layer.weight.numel() for layer in module.modules() if type(layer) is nn.Linear
            )

        passes = {"large": 1, "medium": 2, "small": 2 * self.rank}[self.variant]
        per_pass = weights(self.residual_2) + weights(self.to_head)
        per_slot = sum(
            weights(self.mixer) + weights(self.residual_1) + passes * (per_pass + weights(head))
            for head in self.heads.values()
        )
        return 0, weights(self.task_encoder) + self.num_slots * per_slot

    def forward(
        self, instruction_states: torch.Tensor, instruction_mask: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        pooled = mean_over_instruction(instruction_states, instruction_mask)  # [B, d]
        batch_size = pooled.size(0)
        task = self.task_encoder(pooled)  # [B, latent / 2]
        slots = torch.arange(self.num_slots, device=pooled.device)
        depth = self.layer_depth(slots)  # [S, latent / 4]
        tensors = {}
        for type_index, projection in enumerate(self.projections):
            module_type = self.module_type(slots.new_tensor([type_index]))  # [1, latent / 4]
            # [B, S, latent]: the task, the slot's depth, the projection's type
            embedding = torch.cat(
                [
                    task.unsqueeze(1).expand(-1, self.num_slots, -1),
                    depth.unsqueeze(0).expand(batch_size, -1, -1),
                    module_type.expand(batch_size, self.num_slots, -1),
                ],
                dim=-1,
            )
            hidden = self.residual_1(self.mixer(embedding))
            lora_a, lora_b = self._factors(hidden, type_index, projection)  # [B, S, r, in / out]
            a_key, b_key = lora_keys(projection)
            tensors[a_key] = lora_a.transpose(-1, -2)  # [B, S, in, r]
            tensors[b_key] = lora_b  # [B, S, r, out]
        return tensors

    def _factors(
        self, hidden: torch.Tensor, type_index: int, projection: str
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """A [B, S, r, in] and B [B, S, r, out] of `projection` from `hidden` [B, S, latent]."""
        head = self.heads[projection]
        in_size, out_size = self.sizes[projection]
        leading = hidden.shape[:2]
        if self.variant == "large":
            # [B, S, r * (in + out)] -> A [B, S, r, in], B [B, S, r, out]
            output = head(self.to_head(self.residual_2(hidden)))
            lora_a, lora_b = output.split([self.rank * in_size, self.rank * out_size], dim=-1)
            return lora_a.view(*leading, self.rank, in_size), lora_b.view(
                *leading, self.rank, out_size
            )
        factors = []
        for factor, size in enumerate((in_size, out_size)):
            factor_input = hidden + self.factor_norm(self.factor_embeddings[type_index, factor])
            if self.variant == "small":
                # one row per rank: [B, S, r, latent]
                ranks = torch.arange(self.rank, device=hidden.device)
                factor_input = factor_input.unsqueeze(2) + self.rank_embeddings(ranks)
            output = head(self.to_head(self.residual_2(factor_input)))
            # [B, S, r * max] or [B, S, r, max] -> [B, S, r, max], cut to the factor's size
            factors.append(output.view(*leading, self.rank, -1)[..., :size])
        return factors[0], factors[1]
