"""
The one place that knows backbone architectures: one row per HF `config.model_type`, in the style
of peft's `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING` (peft `utils/constants.py`). A row
says where the generated modules act (the slots of `hint_allennlp/modules/inserted/task_state.py`)
and which config fields give the shape (`shape.BackboneShape`). A further Llama-like causal LM is
one row here and a tiny fixture (`hint_allennlp/testing/tiny_causal_lm.py`).

| model_type | family | LoRA targets (q, k, v, o) | adapter after | positions |
|---|---|---|---|---|
| t5, mt5 | enc.-dec. | `q`, `k`, `v`, `o` of every attention | `T5LayerFF`'s FFN | relative |
| gpt2 | decoder | `c_attn` (fused: q, k, v side by side), `c_proj` | `mlp` | absolute |
| opt | decoder | `q_proj`, `k_proj`, `v_proj`, `out_proj` | (no MLP module) | learned, +2 |
| llama, mistral, qwen2 | decoder | `q_proj`, `k_proj`, `v_proj`, `o_proj` | `mlp` | rotary |

T5's slots are found by `t5.py` (its layer classes, unchanged); a decoder-only model's by the names
of its row (`decoder_only.py`).
"""

from dataclasses import dataclass, field
from typing import Dict, Optional

from allennlp.common.checks import ConfigurationError


@dataclass(frozen=True)
class Architecture:
    """
    One row of `ARCHITECTURES`.

    encoder_decoder : whether the model has an encoder and a decoder stack (T5) or only a decoder.
    head_dim_field : the config field of the head size, None where it is width / heads.
    dropout_field : the config field of the dropout rate (what the generators' attention uses).
    norm_eps_field : the config field of the layer norm epsilon, None where the model uses
        PyTorch's `nn.LayerNorm` default (1e-5).
    layers : decoder-only: the path from the causal LM to its list of decoder blocks.
    attention : decoder-only: a block's self-attention module.
    projections : decoder-only: the attention's module of each of q, k, v, o.
    fused_qkv : decoder-only: q, k and v are one module whose output is their three outputs side by
        side (GPT-2's `Conv1D` `c_attn`).
    mlp : decoder-only: a block's feed-forward module, which takes the normed hidden states (where
        adapters go); None where there is no such module (OPT: adapters are refused).
    """

    encoder_decoder: bool
    head_dim_field: Optional[str] = None
    dropout_field: str = "attention_dropout"
    norm_eps_field: Optional[str] = None
    layers: str = ""
    attention: str = ""
    projections: Dict[str, str] = field(default_factory=dict)
    fused_qkv: bool = False
    mlp: Optional[str] = None


T5_ARCHITECTURE = Architecture(
    encoder_decoder=True,
    head_dim_field="d_kv",
    dropout_field="dropout_rate",
    norm_eps_field="layer_norm_epsilon",
)
LLAMA_LIKE = Architecture(
    encoder_decoder=False,
    head_dim_field="head_dim",
    norm_eps_field="rms_norm_eps",
    layers="model.layers",
    attention="self_attn",
    projections={"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj"},
    mlp="mlp",
)

ARCHITECTURES: Dict[str, Architecture] = {
    "t5": T5_ARCHITECTURE,
    "mt5": T5_ARCHITECTURE,
    "gpt2": Architecture(
        encoder_decoder=False,
        dropout_field="resid_pdrop",
        norm_eps_field="layer_norm_epsilon",
        layers="transformer.h",
        attention="attn",
        projections={"q": "c_attn", "k": "c_attn", "v": "c_attn", "o": "c_proj"},
        fused_qkv=True,
        mlp="mlp",
    ),
    "opt": Architecture(
        encoder_decoder=False,
        dropout_field="dropout",
        layers="model.decoder.layers",
        attention="self_attn",
        projections={"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "out_proj"},
    ),
    "llama": LLAMA_LIKE,
    "mistral": LLAMA_LIKE,
    "qwen2": LLAMA_LIKE,
}


def architecture(model_type: str) -> Architecture:
    """The row of `model_type` (a HF config's `model_type`), or a clear error."""
    if model_type not in ARCHITECTURES:
        raise ConfigurationError(
            f"No generated modules for model_type {model_type!r}: HINT knows "
            f"{', '.join(sorted(ARCHITECTURES))}. A Llama-like causal LM is one row of "
            "ARCHITECTURES in hint_allennlp/modules/backbones/architectures.py."
        )
    return ARCHITECTURES[model_type]
