from dataclasses import dataclass
from typing import List

from transformers import PretrainedConfig

from hint_allennlp.modules.backbones.architectures import architecture

# PyTorch's `nn.LayerNorm` default, which a model without an epsilon field uses (OPT).
TORCH_LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class BackboneShape:
    """
    What generated modules and their generators need to know of a backbone: its sizes and its slots
    (`hint_allennlp/modules/inserted/task_state.py`), from any HF config of a row of
    `architectures.ARCHITECTURES` (`from_config`).

    model_type : the config's `model_type` (its row).
    d_model : the hidden size.
    num_heads : attention heads.
    num_kv_heads : key/value heads (fewer than `num_heads` under grouped-query attention).
    head_dim : the size of one head.
    encoder_layers : E (0 for a decoder-only model).
    decoder_layers : D, the decoder-only model's L.
    dropout : the backbone's dropout rate.
    layer_norm_eps : its layer norm epsilon.
    """

    model_type: str
    d_model: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    encoder_layers: int
    decoder_layers: int
    dropout: float
    layer_norm_eps: float

    @classmethod
    def from_config(cls, config: PretrainedConfig) -> "BackboneShape":
        row = architecture(config.model_type)
        # Every config maps these names to its own (T5's d_model, GPT-2's n_embd: `attribute_map`).
        heads = config.num_attention_heads
        head_dim = getattr(config, row.head_dim_field, None) if row.head_dim_field else None
        return cls(
            model_type=config.model_type,
            d_model=config.hidden_size,
            num_heads=heads,
            num_kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            head_dim=head_dim or config.hidden_size // heads,
            encoder_layers=config.num_layers if row.encoder_decoder else 0,
            decoder_layers=(
                config.num_decoder_layers if row.encoder_decoder else config.num_hidden_layers
            ),
            dropout=getattr(config, row.dropout_field),
            layer_norm_eps=(
                getattr(config, row.norm_eps_field) if row.norm_eps_field else TORCH_LAYER_NORM_EPS
            ),
        )

    @property
    def encoder_decoder(self) -> bool:
        return self.encoder_layers > 0

    @property
    def ffn_slots(self) -> int:
        """Feed-forward slots (adapters): one per layer, E + D."""
        return self.encoder_layers + self.decoder_layers

    @property
    def attention_slots(self) -> int:
        """
        Attention slots (prefixes, LoRA): E + 2D on T5 (each decoder layer's self- and
        cross-attention), L on a decoder-only model.
        """
        attentions_per_decoder_layer = 2 if self.encoder_decoder else 1
        return self.encoder_layers + attentions_per_decoder_layer * self.decoder_layers

    def ffn_attention_slots(self) -> List[int]:
        """
        The attention slot of each feed-forward slot's layer (the self-attention's): encoder layer
        i -> i, decoder layer j -> E + 2j on T5; layer l -> l on a decoder-only model.
        """
        step = 2 if self.encoder_decoder else 1
        return list(range(self.encoder_layers)) + [
            self.encoder_layers + step * layer for layer in range(self.decoder_layers)
        ]

    def projection_sizes(self, projection: str) -> "tuple[int, int]":
        """(in, out) of attention projection q, k, v or o: k and v make `num_kv_heads` heads."""
        query_width = self.num_heads * self.head_dim
        key_value_width = self.num_kv_heads * self.head_dim
        return {
            "q": (self.d_model, query_width),
            "k": (self.d_model, key_value_width),
            "v": (self.d_model, key_value_width),
            "o": (query_width, self.d_model),
        }[projection]
