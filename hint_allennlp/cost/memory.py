"""
Analytic memory of what is kept for a task at inference (paper §5.1, appendix C.2), and of what a
decoder-only model would keep instead. The memory of training is planned in
`benchmark/training_memory_plan.py`.
"""

from typing import TYPE_CHECKING, Optional

from transformers import T5Config

from hint_allennlp.cost.flops import ParameterCounts
from hint_allennlp.modules.backbones.shape import BackboneShape

if TYPE_CHECKING:  # only its `values_per_stack` is used: this module needs no torch
    from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig


def cached_task_bytes(
    config: T5Config,
    inserted_modules_config: Optional["InsertedModulesConfig"],
    instruction_length: int,
    keeps_encoded_instruction: bool = True,
    bytes_per_value: int = 4,
) -> int:
    """
    Memory to keep one task's generated modules for reuse (paper appendix C.2): the encoded
    instruction (d_model values per token, kept only for fusion), an adapter per encoder and decoder
    layer (down and up projections 2·a·d and their biases a + d), P prefix keys and P values per
    attention block (encoder self-attention, decoder self- and cross-attention: 2·P·heads·d_kv) and,
    if enabled, LoRA's A and B on the projections `lora_projections` names (q and v by default) of
    each attention block (r·(d_model + heads·d_kv) each), sizes that each kind's components give
    (`ModuleKind.values_per_stack`). The paper's ds + 2·a·l·d + 2·P·l·h·k leaves out the biases and
    does not say which layers.

    # Parameters

    config : `T5Config`
    inserted_modules_config : `InsertedModulesConfig`, optional
        The generated modules; `None` for none (HINT − PEFT generation keeps only the instruction).
    instruction_length : `int`
        t, the instruction's tokens.
    keeps_encoded_instruction : `bool`, optional (default = `True`)
        Whether the encoded instruction is kept (needed only for instruction fusion).
    bytes_per_value : `int`, optional (default = `4`)
        4 for float32, 2 for bfloat16 or float16.
    """
    counts = ParameterCounts.from_t5_config(config, inserted_modules_config)
    encoded_instruction = config.d_model * instruction_length if keeps_encoded_instruction else 0
    return bytes_per_value * (encoded_instruction + counts.encoder_modules + counts.decoder_modules)


def appendix_c_cached_task_bytes(
    config: T5Config,
    inserted_modules_config: "InsertedModulesConfig",
    instruction_length: int,
    bytes_per_value: int = 4,
) -> int:
    """
    The paper's own count of one cached task (appendix C.2): d·s + 2·a·l·d + 2·P·l·h·k, the encoded
    instruction of s tokens, a down and an up projection of every adapter and P keys and P values
    of every prefix, with l all the T5's layers (encoder and decoder), no biases.
    `cached_task_bytes` is the exact count of what the model keeps.
    """
    layers = config.num_layers + config.num_decoder_layers
    return bytes_per_value * (
        config.d_model * instruction_length
        + 2 * inserted_modules_config.adapter_size * layers * config.d_model
        + 2 * inserted_modules_config.prefix_length * layers * config.num_heads * config.d_kv
    )


def fused_instruction_bytes(
    config: T5Config, instruction_length: int, bytes_per_value: int = 4
) -> int:
    """
    The instruction's keys and values in every decoder cross-attention, 2·t·heads·d_kv per decoder
    layer: what instruction fusion makes from the encoded instruction in each forward pass and
    drops after it (caching them would cost this much).
    """
    return (
        bytes_per_value
        * 2
        * config.num_decoder_layers
        * instruction_length
        * config.num_heads
        * config.d_kv
    )


def decoder_only_kv_cache_bytes(
    config: T5Config, instruction_length: int, bytes_per_value: int = 4
) -> int:
    """
    The key/value cache of the same instruction in a decoder-only model of comparable size: as many
    layers as the T5 has in all (encoder + decoder), the same width, a key and a value of d_model
    per layer per token (2·l·t·d values).
    """
    layers = config.num_layers + config.num_decoder_layers
    return bytes_per_value * 2 * layers * instruction_length * config.d_model


def key_value_cache_bytes(config, instruction_length: int, bytes_per_value: int = 4) -> int:
    """
    What a decoder-only model (`instruction_causal_lm`) keeps for an instruction of t tokens:
    appendix C.2's 2·l·h·k·t values, a key and a value of every key/value head in every layer for
    each token, from the model's HF config (`num_hidden_layers`, `num_key_value_heads` where the
    model shares them between query heads, else `num_attention_heads`, and the head size). The
    model also keeps the instruction's mask, t bytes.
    """
    heads = config.num_attention_heads
    key_value_heads = getattr(config, "num_key_value_heads", None) or heads
    head_size = getattr(config, "head_dim", None) or config.hidden_size // heads
    return (
        bytes_per_value
        * 2
        * config.num_hidden_layers
        * key_value_heads
        * head_size
        * instruction_length
    )


def causal_task_bytes(
    config,
    inserted_modules_config: "InsertedModulesConfig",
    instruction_length: int,
    instruction_fusion: bool,
    bytes_per_value: int = 4,
) -> int:
    """
    What HINT on a causal LM (`instruction_causal_lm` with a `parameter_generator`) keeps for one
    task, what `hint-compile` saves: the generated modules at the sizes of the backbone's shape
    (adapters after each block's MLP, P prefix keys and values of every key/value head in every
    layer, LoRA sized by each projection, grouped-query aware), and with `instruction_fusion` the
    instruction's keys and values in every layer and its mask (`key_value_cache_bytes`): s·d + l·d
    per task without fusion against l·d·s with it, as the docs put it.

    # Parameters

    config : the causal LM's HF config.
    inserted_modules_config : `InsertedModulesConfig`
        The generated modules.
    instruction_length : `int`
        t, the instruction's tokens.
    instruction_fusion : `bool`
        Whether the instruction's keys and values are kept (the model's `instruction_fusion`).
    bytes_per_value : `int`, optional (default = `4`)
        4 for float32, 2 for bfloat16.
    """
    modules = bytes_per_value * sum(
        inserted_modules_config.values_per_stack(BackboneShape.from_config(config))
    )
    if not instruction_fusion:
        return modules
    mask = instruction_length  # one byte a token
    return modules + key_value_cache_bytes(config, instruction_length, bytes_per_value) + mask
