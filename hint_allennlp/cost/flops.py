"""
Analytic inference compute of HINT and its baselines (paper §3.3 and appendix C); the memory of a
cached task is `memory.py`.

FLOPs convention: a multiply-add is 2 FLOPs, as in `torch.utils.flop_counter.FlopCounterMode` (a
matmul of m×k by k×n is 2·m·n·k) and in Kaplan et al.'s "2N per token". A token costs 2 FLOPs for
every weight it is multiplied with, and in an encoder-decoder a token does not meet every weight: an
input token meets the encoder's and the decoder's cross-attention key/value projections, an output
token the rest of the decoder and the LM head, and the embedding table only gives lookups (0 FLOPs).
So `ParameterCounts` splits T5's weights that way, and for t instruction, i instance and o output
tokens and n examples of one task:

    concatenated (Tk-Instruct):   2·n·[(E + X + A_enc)·(t + i) + (D + A_dec)·o]
    omitted (No-Instruct):        2·n·[(E + X + A_enc)·i + (D + A_dec)·o]
    hypernetwork (HINT − fusion): 2·t·(E + N') + 2·n·[(E + X + A_enc)·i + (D + A_dec)·o]
    hypernetwork_with_fusion:     the same + 2·t·X

with E the encoder, X the cross-attention key/value projections, D the rest of the decoder and the
LM head, N' the parameter generator, A_enc / A_dec the modules inserted into each stack. The split
is what makes the count checkable: up to attention scores (below) it equals what FlopCounterMode
measures on HF's T5 (tested). How it relates to the paper's N·n·(t+i+o) (appendix C):
docs/fidelity.md, "Cost and metrics".

Approximations, as in the paper: the attention-score and attention-weighted-sum matmuls
(4·s_query·s_key·heads·d_kv FLOPs per attention block, quadratic in length) are left out, which
undercounts by 4·s·h·k / (2·per-layer weights) — ~1% for T5-XL at SNI's lengths, more for tiny
models or long inputs; layer norms, softmax, activations and additions are not counted (nor by
FlopCounterMode); the generator costs N' per instruction token (the paper's t·N'; a generator that
reads one pooled embedding, Text-to-LoRA, the weights it meets once per task), and every value
of a PEFT module 1 multiply-add per token of its stack (exact for adapter and LoRA weights and for
prefixes, whose P keys and P values each meet every query once; generated biases are additions,
counted anyway). Instruction fusion is charged where the paper neglects it: every cross-attention
projects the t encoded instruction vectors to keys and values, 2·t·X, once per task
(`instruction_fusion.py` does it once per batch, so a task split over k batches pays it k times;
projecting them for every example, as concatenating them to each example's encoder output does,
would cost 2·n·t·X, ~20% of the per-example cost for T5-XL on SNI). Incremental decoding is counted
as a forward over o output tokens.

A decoder-only model (`DecoderOnlyCounts`: W the weights of its layers, met by every token it
runs; H the LM head, met by every position whose next-token distribution is used; A the sum over
layers of heads × head size) runs the prompt of P = t + i tokens and the o − 1 generated tokens it
feeds back, S = P + o − 1 tokens, causally: the token at position p attends p + 1 keys, and each
(query, key) pair costs 4·A FLOPs (scores and weighted sum; here the attention term is counted,
since caching changes what attends to what). The LM head runs at the prompt's last position and at
each token fed back, o times (HF's generate also runs it over the whole prompt, whose
distributions are unused: not counted). For n examples of one task:

    concatenated (no cache):   n·[2·W·S + 2·H·o + 4·A·S(S+1)/2]
    omitted (input alone):     the same with t = 0
    key_value_cached:          2·W·t + 4·A·t(t+1)/2
                               + n·[2·W·(S − t) + 2·H·o + 4·A·(S(S+1) − t(t+1))/2]

(the instruction's keys and values are made once per task; every input still attends to them).
With the task already cached (`cached_task_inference_flops`), what is made once per task is not
made again: a T5 with a hypernetwork neither encodes the instruction nor generates its modules
(− 2·t·(E + N') and twice the generator's once-per-task weights), a decoder-only model runs
nothing once per task (key_value_cached: − 2·W·t − 4·A·t(t+1)/2).
This is Kaplan et al.'s 2N per token (N = W, the non-embedding weights, met by every token) plus
their attention term, with each token's own context length (the paper's Table 1 count:
docs/fidelity.md, "Cost and metrics").
"""

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError
from transformers import T5Config

from hint_allennlp.modules.backbones.shape import BackboneShape

if TYPE_CHECKING:  # only its `values_per_stack` is used: this module needs no torch
    from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig

INSTRUCTION_HANDLINGS = (
    "concatenated",
    "omitted",
    "hypernetwork",
    "hypernetwork_with_fusion",
    "key_value_cached",
)


@dataclass(frozen=True)
class ParameterCounts(FromParams):
    """
    The weights each kind of token is multiplied with, in one forward pass. `from_t5_config` fills
    them in for a T5 and a `InsertedModulesConfig`; only `generator` has to come from the model.

    # Parameters

    encoder : `int`
        Weights of the encoder layers (attention and feed-forward projections), met by every encoder
        token, instruction tokens in the hypernetwork's encoder included.
    cross_attention_key_value : `int`
        Weights of the key and value projections of every decoder cross-attention, met by every
        vector the decoder attends to: each encoded input token and, with fusion, each encoded
        instruction token (once per task).
    decoder : `int`
        The remaining decoder weights and the LM head, met by every output token.
    generator : `int`, optional (default = `0`)
        Parameters of the parameter generator (N'), charged per instruction token as in the paper.
    generator_per_task : `int`, optional (default = `0`)
        Generator weights met once per task instead, by a generator that reads one pooled
        instruction embedding (`ParameterGenerator.counted_weights`: Text-to-LoRA).
    encoder_modules : `int`, optional (default = `0`)
        Values of the adapters, prefixes and LoRA weights inserted into the encoder (generated or
        learned), met by every encoder token of an instance.
    decoder_modules : `int`, optional (default = `0`)
        The same for the decoder, met by every output token.
    """

    encoder: int
    cross_attention_key_value: int
    decoder: int
    generator: int = 0
    generator_per_task: int = 0
    encoder_modules: int = 0
    decoder_modules: int = 0

    @classmethod
    def from_t5_config(
        cls,
        config: T5Config,
        inserted_modules_config: Optional["InsertedModulesConfig"] = None,
        generator: int = 0,
        generator_per_task: int = 0,
    ) -> "ParameterCounts":
        """
        Counts for a HF `T5Config`, with the modules that `inserted_modules_config` enables (none
        without one) and a generator meeting `generator` weights per instruction token and
        `generator_per_task` once per task. The counts are those of the weight matrices of
        `T5ForConditionalGeneration` (tested against a model), so they stay right when the model
        wraps T5's layers with modules of its own.
        """
        d_model, attention_width = config.d_model, config.num_heads * config.d_kv
        attention = 4 * d_model * attention_width  # q, k, v, o
        feed_forward = (3 if config.is_gated_act else 2) * d_model * config.d_ff
        encoder_modules, decoder_modules = (
            inserted_modules_config.values_per_stack(BackboneShape.from_config(config))
            if inserted_modules_config is not None
            else (0, 0)
        )
        return cls(
            encoder=config.num_layers * (attention + feed_forward),
            cross_attention_key_value=config.num_decoder_layers * 2 * d_model * attention_width,
            # self-attention, cross-attention q and o, feed-forward; then the LM head
            decoder=config.num_decoder_layers
            * (attention + 2 * d_model * attention_width + feed_forward)
            + d_model * config.vocab_size,
            generator=generator,
            generator_per_task=generator_per_task,
            encoder_modules=encoder_modules,
            decoder_modules=decoder_modules,
        )

    def reference(self) -> "ParameterCounts":
        """What `relative_flops` divides by: Tk-Instruct on this T5 (no modules, no generator)."""
        return ParameterCounts(self.encoder, self.cross_attention_key_value, self.decoder)


@dataclass(frozen=True)
class DecoderOnlyCounts(FromParams):
    """
    The weights of a decoder-only model by what they process (formulas in the module docstring).
    `from_model` counts them on a HF causal LM.

    # Parameters

    layers : `int`
        W: the weights of every layer's matrix multiplications (attention and feed-forward
        projections, any input or output projection), met by every token the model runs.
    lm_head : `int`
        H: the output projection, met by every position whose next-token distribution is used.
    attention : `int`, optional (default = `0`)
        A: heads × head size, summed over the layers; a (query, key) pair costs 4·A FLOPs.
    generator : `int`, optional (default = `0`)
        N': parameters of HINT's parameter generator, charged per instruction token as for T5.
    generator_per_task : `int`, optional (default = `0`)
        Generator weights met once per task instead, as for T5.
    """

    layers: int
    lm_head: int
    attention: int = 0
    generator: int = 0
    generator_per_task: int = 0

    @classmethod
    def from_model(
        cls, model, generator: int = 0, generator_per_task: int = 0
    ) -> "DecoderOnlyCounts":
        """
        The counts of a HF causal LM (`PreTrainedModel`; on the meta device for a model too large
        to build): the weight of every `nn.Linear` and GPT-2 `Conv1D` but the LM head; with a
        generator meeting `generator` weights per instruction token and `generator_per_task` once
        per task (HINT).
        """
        from torch import nn
        from transformers.pytorch_utils import Conv1D

        head = model.get_output_embeddings()
        layers = sum(
            module.weight.numel()
            for module in model.modules()
            if isinstance(module, (nn.Linear, Conv1D)) and module is not head
        )
        config = model.config
        heads = config.num_attention_heads
        head_size = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(
            layers,
            head.weight.numel(),
            config.num_hidden_layers * heads * head_size,
            generator,
            generator_per_task,
        )

    def reference(self) -> "DecoderOnlyCounts":
        """What `relative_flops` divides by: the same model reading the instruction every time."""
        return DecoderOnlyCounts(self.layers, self.lm_head, self.attention)


@dataclass(frozen=True)
class TaskLengths:
    """
    Token counts of one task's inference: per example, or means over its examples (the formulas are
    linear in them). The paper uses medians (its appendix A.1).

    # Parameters

    instruction : `float`
        t: tokens of the instruction (definition, plus positive examples if given), as the
        hypernetwork encodes it and as Tk-Instruct prepends it to every input.
    instance : `float`
        i: tokens of one example's input without the instruction.
    output : `float`
        o: output tokens per example.
    examples : `float`, optional (default = `1`)
        n: examples of the task.
    """

    instruction: float
    instance: float
    output: float
    examples: float = 1


def inference_flops(
    instruction_handling: str,
    parameters: Union[ParameterCounts, "DecoderOnlyCounts"],
    lengths: TaskLengths,
) -> float:
    """
    FLOPs to run one task's `lengths.examples` examples (formulas in this module's docstring).

    # Parameters

    instruction_handling : `str`
        How the model gets the instruction: "concatenated" to every input (Tk-Instruct, also with
        learned PEFT modules; a decoder-only model without cache), "omitted" (No-Instruct),
        "hypernetwork": encoded once per task into modules (HINT − fusion, Hypter,
        HyperTune), "hypernetwork_with_fusion": that, and the encoded instruction is also
        attended by the decoder (HINT, HINT − PEFT generation), or "key_value_cached": a
        decoder-only model runs the instruction once per task and keeps its keys and values.
    parameters : `ParameterCounts` (T5) or `DecoderOnlyCounts`
    lengths : `TaskLengths`
    """
    check_instruction_handling(instruction_handling)
    if isinstance(parameters, DecoderOnlyCounts):
        return _decoder_only_flops(instruction_handling, parameters, lengths)
    if instruction_handling == "key_value_cached":
        raise ConfigurationError("key_value_cached is the handling of decoder-only models")
    per_input_token = (
        parameters.encoder + parameters.cross_attention_key_value + parameters.encoder_modules
    )
    per_output_token = parameters.decoder + parameters.decoder_modules
    t, i, o = lengths.instruction, lengths.instance, lengths.output
    if instruction_handling == "concatenated":
        return 2 * lengths.examples * (per_input_token * (t + i) + per_output_token * o)
    per_example = per_input_token * i + per_output_token * o
    if instruction_handling == "omitted":
        return 2 * lengths.examples * per_example
    per_instruction_token = parameters.encoder + parameters.generator
    if instruction_handling == "hypernetwork_with_fusion":
        per_instruction_token += parameters.cross_attention_key_value
    return 2 * (
        t * per_instruction_token + parameters.generator_per_task + lengths.examples * per_example
    )


def cached_task_inference_flops(
    instruction_handling: str,
    parameters: Union[ParameterCounts, "DecoderOnlyCounts"],
    lengths: TaskLengths,
) -> float:
    """
    `inference_flops` of a task whose per-task work is already in the model's task cache (after
    `hint-compile`, or a first batch of the task). A T5 with a hypernetwork neither encodes the
    instruction nor runs the generator (the decoder's cross-attention still projects the kept
    encoded instruction); a decoder-only model runs nothing once per task (its hypernetwork and the
    instruction's keys and values are kept). Handlings that keep nothing per task are unchanged.
    """
    flops = inference_flops(instruction_handling, parameters, lengths)
    if isinstance(parameters, DecoderOnlyCounts):
        return flops - inference_flops(
            instruction_handling, parameters, dataclasses.replace(lengths, examples=0)
        )
    if instruction_handling.startswith("hypernetwork"):
        return flops - 2 * (
            lengths.instruction * (parameters.encoder + parameters.generator)
            + parameters.generator_per_task
        )
    return flops


def training_flops(
    instruction_handling: str,
    parameters: Union[ParameterCounts, "DecoderOnlyCounts"],
    lengths: TaskLengths,
    tasks: int,
) -> float:
    """
    FLOPs of one training step on a batch of `tasks` tasks of `lengths.examples` examples each:
    the forward pass, `inference_flops` of each task with its target as the output (teacher
    forcing), and the backward pass, twice the forward (gradients of activations and of weights:
    Kaplan et al.'s 6N per token). The instruction is charged once per task in the batch, as the
    models run it once per distinct instruction: batches that mix as many tasks as examples pay it
    for every example, batches of few tasks (the `task_grouped` sampler) once per task.
    """
    return 3 * tasks * inference_flops(instruction_handling, parameters, lengths)


def _decoder_only_flops(
    instruction_handling: str, parameters: DecoderOnlyCounts, lengths: TaskLengths
) -> float:
    # HINT on a causal LM: the hypernetwork runs the instruction through the layers once (its
    # hidden states) and the generator; with fusion the instruction's keys and values are then
    # computed and kept as in the key/value cache, without it the examples never see it. The
    # generated modules' own FLOPs are left out (small beside the layers).
    hypernetwork = 0.0
    if instruction_handling.startswith("hypernetwork"):
        hypernetwork = (
            2 * lengths.instruction * (parameters.layers + parameters.generator)
            + 2 * parameters.generator_per_task
            + 4 * parameters.attention * lengths.instruction * (lengths.instruction + 1) / 2
        )
        instruction_handling = (
            "key_value_cached" if instruction_handling == "hypernetwork_with_fusion" else "omitted"
        )
    t = 0 if instruction_handling == "omitted" else lengths.instruction
    sequence = t + lengths.instance + lengths.output - 1  # S: the tokens run, causally
    cached = t if instruction_handling == "key_value_cached" else 0

    def attention_pairs(length: float) -> float:  # tokens 0..length-1, each attending p + 1 keys
        return length * (length + 1) / 2

    per_example = (
        2 * parameters.layers * (sequence - cached)
        + 2 * parameters.lm_head * lengths.output
        + 4 * parameters.attention * (attention_pairs(sequence) - attention_pairs(cached))
    )
    once = 2 * parameters.layers * cached + 4 * parameters.attention * attention_pairs(cached)
    return hypernetwork + once + lengths.examples * per_example


def instruction_handling(
    reads_instruction: bool, instruction_fusion: bool, instruction_format: Optional[str] = None
) -> str:
    """
    Which of `INSTRUCTION_HANDLINGS` applies to a model that reads `instruction_tokens` or not,
    with or without fusion, fed by a reader in `instruction_format`. A model that reads no
    instruction tokens gets the instruction inside its input ("concatenated"), unless its reader
    leaves it out (the 'no_instruct' format: "omitted"); None counts the reader as putting it there.
    """
    if reads_instruction:
        return "hypernetwork_with_fusion" if instruction_fusion else "hypernetwork"
    return "omitted" if instruction_format == "no_instruct" else "concatenated"


def check_instruction_handling(instruction_handling: str) -> None:
    if instruction_handling not in INSTRUCTION_HANDLINGS:
        raise ConfigurationError(
            f"instruction_handling must be one of {INSTRUCTION_HANDLINGS}, "
            f"got {instruction_handling!r}"
        )
