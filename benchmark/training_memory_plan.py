"""
Training memory per device, analytic, for HINT on the paper's T5 v1.1 LM-adapt backbones at the
paper's lengths (instruction 1,024, input 1,024, target 256), under DDP and under FSDP, with and
without gradient checkpointing and bf16 (`docs/training_large_models.md` holds the table of
`python -m benchmark training_memory_plan`).

Counted (bytes per device):

- weights, float32 (4 per parameter), and under bf16 their bf16 copies (2 per parameter, made by
  autocast and kept for backward); gradients, float32; DDP's communication buckets, as large as the
  gradients; Adafactor's state, factored (rows + columns of each matrix, every value of a vector).
  FSDP divides all of them by the devices and adds one unsharded unit (the largest of a T5 block,
  the generator and the embeddings) with its gradients;
- generated modules as the activations they are: per example of a mixed-task batch, adapters
  2·a·d + a + d per layer, prefixes 2·P·H·d_kv per attention, the fused instruction's keys and
  values 2·t·H·d_kv per decoder layer and the encoded instruction t·d, and as much again for their
  gradients;
- activations saved for backward, per example: per block, the residual stream and layer norm input
  (float32), q, k, v, attention context, the feed-forward's three d_ff-wide tensors, the adapter
  bottleneck (2 or 4 bytes), attention probabilities (float32, softmax runs in float32) and their
  dropout (2 or 4 bytes + 1 byte mask), the feed-forward dropout; the position bias of each stack,
  float32; the logits with the loss's float32 copies; the instruction encoder's pass over the
  instruction. With checkpointing, each block keeps only its input (d per token, float32) and one
  block's activations are live again during its recomputation.

Neglected (under 1% each): layer norm weights' activations, the generator's own intermediates,
masks of d-wide dropouts, allocator fragmentation, the CUDA context (~0.5 GB).
"""

import argparse
import functools
from dataclasses import dataclass
from typing import Dict, List

import torch
from transformers import (
    AutoModelForCausalLM,
    PretrainedConfig,
    T5Config,
    T5ForConditionalGeneration,
)

from hint_allennlp.models.paper_variants import BACKBONES, PAPER_VARIANTS
from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig

GB = 1e9
FLOAT32 = 4
BF16 = 2

# The backbones planned (their shapes and module sizes: `models/paper_variants.json`) and the model.
PLANNED_BACKBONES = ("base", "large", "xl", "xxl")
PLANNED_VARIANT = PAPER_VARIANTS["hint"]


@dataclass(frozen=True)
class Lengths:
    """The maximum lengths of the authors' SNI runs (allenai/hyper-task-descriptions)."""

    instruction: int = 1024
    source: int = 1024
    target: int = 256


@dataclass(frozen=True)
class Plan:
    """Bytes per device of one configuration; `per_example` scales with the micro-batch."""

    backbone: str
    strategy: str  # "ddp" or "fsdp"
    devices: int
    gradient_checkpointing: bool
    bf16: bool
    parameters: int  # count, T5 and generator
    weights: float
    gradients: float
    adafactor: float
    generated_modules_per_example: float
    activations_per_example: float

    @property
    def fixed(self) -> float:
        return self.weights + self.gradients + self.adafactor

    @property
    def per_example(self) -> float:
        return self.generated_modules_per_example + self.activations_per_example

    def total(self, micro_batch: int) -> float:
        return self.fixed + micro_batch * self.per_example

    def max_micro_batch(self, device_bytes: float) -> int:
        return max(0, int((device_bytes - self.fixed) // self.per_example))


def t5_config(backbone: str) -> T5Config:
    return BACKBONES[backbone].t5_config()


def inserted_modules_config(backbone: str) -> InsertedModulesConfig:
    """HINT's generated modules at the backbone's sizes."""
    arguments = PLANNED_VARIANT.model_arguments(**BACKBONES[backbone].module_sizes())
    return InsertedModulesConfig(**arguments["peft"])


@functools.lru_cache(maxsize=None)
def parameter_shapes(backbone: str) -> Dict[str, List[torch.Size]]:
    """
    Shapes of the parameters of each FSDP unit: `block` (the largest T5 block), `generator`, `root`
    (the rest).
    """
    config, peft = t5_config(backbone), inserted_modules_config(backbone)
    with torch.device("meta"):  # shapes only, no memory
        t5 = T5ForConditionalGeneration(config)
        generator = ParameterGenerator.by_name(PLANNED_VARIANT.parameter_generator)(
            BackboneShape.from_config(config), peft
        )
    blocks = list(t5.encoder.block) + list(t5.decoder.block)
    in_blocks = {id(parameter) for block in blocks for parameter in block.parameters()}
    return {
        "blocks": [parameter.shape for parameter in t5.parameters() if id(parameter) in in_blocks],
        "block": [parameter.shape for parameter in t5.decoder.block[-1].parameters()],
        "generator": [parameter.shape for parameter in generator.parameters()],
        "root": [
            parameter.shape for parameter in t5.parameters() if id(parameter) not in in_blocks
        ],
    }


def adafactor_values(shape: torch.Size) -> int:
    """HF Adafactor, no momentum: a row and a column vector per matrix, a full copy of a vector."""
    return shape[-2] + shape[-1] if len(shape) >= 2 else shape.numel()


def generated_module_values(backbone: str, lengths: Lengths) -> int:
    """Values of one example's generated modules, fused instruction and encoded instruction."""
    config = t5_config(backbone)
    modules = sum(
        inserted_modules_config(backbone).values_per_stack(BackboneShape.from_config(config))
    )  # adapters and prefixes, both stacks
    # every cross-attention's keys and values of the instruction
    fusion = config.num_decoder_layers * 2 * lengths.instruction * config.num_heads * config.d_kv
    return modules + fusion + lengths.instruction * config.d_model


def block_activation_bytes(
    backbone: str, tokens: int, keys: int, cross_keys: int, bf16: bool, modules: bool
) -> float:
    """
    Bytes one block saves for backward for one example of `tokens` tokens attending to `keys` keys
    (and, in the decoder, `cross_keys` in cross-attention; 0 in the encoder).
    """
    config = t5_config(backbone)
    d, d_ff, heads = config.d_model, config.d_ff, config.num_heads
    inner = heads * config.d_kv
    matmul = BF16 if bf16 else FLOAT32  # what autocast's matmuls return

    def attention(key_count: int) -> float:
        residual = FLOAT32 * 2 * d  # the sublayer input and its layer norm output (float32)
        projections = matmul * 4 * inner  # q, k, v and the context
        probabilities = (
            FLOAT32 * heads * key_count + (matmul + 1) * heads * key_count
        )  # softmax, dropout and mask
        return residual + projections + probabilities

    feed_forward = FLOAT32 * 2 * d + matmul * 4 * d_ff + d_ff  # wi_0, wi_1, GELU, dropout (+ mask)
    adapter = matmul * 2 * inserted_modules_config(backbone).adapter_size if modules else 0
    per_token = (
        attention(keys) + feed_forward + adapter + (attention(cross_keys) if cross_keys else 0)
    )
    return tokens * per_token


def plan(
    backbone: str,
    strategy: str,
    gradient_checkpointing: bool,
    bf16: bool,
    devices: int = 8,
    lengths: Lengths = Lengths(),
) -> Plan:
    if strategy not in ("ddp", "fsdp"):
        raise ValueError(f"strategy is 'ddp' or 'fsdp', not {strategy!r}")
    config = t5_config(backbone)
    d, heads, layers, prefix = (
        config.d_model,
        config.num_heads,
        config.num_layers,
        inserted_modules_config(backbone).prefix_length,
    )
    units = parameter_shapes(backbone)
    everything = units["blocks"] + units["generator"] + units["root"]
    parameters = sum(shape.numel() for shape in everything)
    optimizer_values = sum(adafactor_values(shape) for shape in everything)

    shards = devices if strategy == "fsdp" else 1
    weights = FLOAT32 * parameters / shards + (BF16 * parameters / shards if bf16 else 0)
    gradients = (
        FLOAT32 * parameters / shards * (1 if strategy == "fsdp" else 2)
    )  # DDP: + its buckets
    if strategy == "fsdp":
        largest_unit = max(
            sum(shape.numel() for shape in units[unit]) for unit in ("block", "generator", "root")
        )
        weights += (FLOAT32 + (BF16 if bf16 else 0)) * largest_unit
        gradients += FLOAT32 * largest_unit
    adafactor = FLOAT32 * optimizer_values / shards

    value = BF16 if bf16 else FLOAT32
    generated = 2 * value * generated_module_values(backbone, lengths)  # and their gradients

    source, instruction, target = lengths.source, lengths.instruction, lengths.target
    encoder_block = block_activation_bytes(backbone, source, source + prefix, 0, bf16, modules=True)
    instruction_block = block_activation_bytes(
        backbone, instruction, instruction, 0, bf16, modules=False
    )
    decoder_block = block_activation_bytes(
        backbone, target, target + prefix, instruction + source + prefix, bf16, modules=True
    )
    # Position bias (with the mask) of each stack's self-attention, float32, and the encoder output
    # the decoder reads.
    shared = FLOAT32 * heads * (source**2 + instruction**2 + target**2) + FLOAT32 * source * d
    logits = (
        BF16 if bf16 else FLOAT32
    ) * target * config.vocab_size + 2 * FLOAT32 * target * config.vocab_size  # + loss's float32
    if gradient_checkpointing:
        block_inputs = FLOAT32 * d * layers * (source + instruction + target)
        recomputed = max(encoder_block, instruction_block, decoder_block)
        activations = shared + logits + block_inputs + recomputed
    else:
        activations = shared + logits + layers * (encoder_block + instruction_block + decoder_block)
    return Plan(
        backbone=backbone,
        strategy=strategy,
        devices=devices,
        gradient_checkpointing=gradient_checkpointing,
        bf16=bf16,
        parameters=parameters,
        weights=weights,
        gradients=gradients,
        adafactor=adafactor,
        generated_modules_per_example=generated,
        activations_per_example=activations,
    )


def markdown_table(device_gb: float = 80, devices: int = 8) -> str:
    """The table of docs/training_large_models.md: one row per backbone, strategy and setting."""
    header = (
        "| backbone | parameters | strategy | checkpointing | bf16 | weights | gradients "
        "| Adafactor | generated modules / example | activations / example | fixed total "
        f"| largest micro-batch in {device_gb:g} GB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for backbone in PLANNED_BACKBONES:
        for strategy in ("ddp", "fsdp"):
            for checkpointing in (False, True):
                for bf16 in (False, True):
                    row = plan(backbone, strategy, checkpointing, bf16, devices)
                    rows.append(
                        f"| {backbone} | {row.parameters / 1e9:.2f} B | "
                        f"{'DDP' if strategy == 'ddp' else f'FSDP on {devices}'} | "
                        f"{'yes' if checkpointing else 'no'} | {'yes' if bf16 else 'no'} | "
                        f"{row.weights / GB:.1f} GB | {row.gradients / GB:.1f} GB | "
                        f"{row.adafactor / GB:.2f} GB | "
                        f"{row.generated_modules_per_example / GB:.2f} GB | "
                        f"{row.activations_per_example / GB:.2f} GB | "
                        f"{row.fixed / GB:.1f} GB | {row.max_micro_batch(device_gb * GB)} |"
                    )
    return header + "\n".join(rows) + "\n"


@dataclass(frozen=True)
class CausalHintTraining:
    """
    Bytes of HINT on a causal LM trained on one device (or each DDP worker) with AdamW, the
    decoder-only recipe's optimizer; `generated_modules_per_example` scales with the micro-batch.
    (The activations are not modelled here: T5's are `block_activation_bytes`.)
    """

    parameters: int  # count, the causal LM's and the generator's
    weights: float
    gradients: float
    adamw: float
    generated_modules_per_example: float


def causal_hint_training(
    config: PretrainedConfig, peft: InsertedModulesConfig, parameter_generator: str, bf16: bool
) -> CausalHintTraining:
    """
    Weights float32 (and their bf16 copies under bf16 autocast), gradients float32 with DDP's
    buckets as large, AdamW's two float32 moments a parameter; each example's generated modules at
    the backbone's shape (`InsertedModulesConfig.values_per_stack`) and their gradients. With
    instruction fusion the instruction is read in the prompt in training: it lengthens the
    activations, not the generated modules.
    """
    shape = BackboneShape.from_config(config)
    with torch.device("meta"):  # shapes only, no memory
        model = AutoModelForCausalLM.from_config(config)
        generator = ParameterGenerator.by_name(parameter_generator)(shape, peft)
    # Tied embeddings are one parameter (`parameters()` yields each once).
    parameters = sum(p.numel() for p in model.parameters()) + sum(
        p.numel() for p in generator.parameters()
    )
    value = BF16 if bf16 else FLOAT32
    return CausalHintTraining(
        parameters=parameters,
        weights=FLOAT32 * parameters + (BF16 * parameters if bf16 else 0),
        gradients=2 * FLOAT32 * parameters,  # and DDP's buckets
        adamw=2 * FLOAT32 * parameters,
        generated_modules_per_example=2 * value * sum(peft.values_per_stack(shape)),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> None:
    print(markdown_table())
