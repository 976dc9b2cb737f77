"""
HINT's real competitor on inference cost (paper §5.1, appendix C), measured: a decoder-only model
that caches the key/values of the instruction once per task, side by side in one run with

- HINT, task cached: `hint_seq2seq` with the task's generated modules and encoded instruction
  already in its task cache (as after `hint-compile`);
- decoder-only, instruction cached: `instruction_causal_lm` with the instruction's keys and values
  already in its task cache, attended as one shared copy (`shared_prefix_attention.py`), logits
  only where used, GPT-2's activation fused: the model at its best;
- KV cache, expanded per example: the path this model had before, kept to show the gain: the
  instruction's keys and values copied to every example into HF's cache
  (`instruction_key_values: "per_example"`), the LM head over every prompt position and GPT-2's
  unfused `gelu_new`;
- optionally (`--settings`) the decoder-only model without its cache, and Tk-Instruct.

The GPT-2 is random-weight, of the T5's width and vocabulary, and as many layers as bring its
total parameter count closest to the T5's (`matched_gpt2_config`). One task of `examples`
examples at SNI's 'Def + 2 Pos.' median lengths (paper Table 7: instruction 197 tokens, input 44),
random ids, in one batch; each setting generates exactly `output` tokens (EOS switched off), for
each of `outputs`. Reported: wall and CPU time per task (median over interleaved rounds,
`benchmark/timing.py`), analytic FLOPs (`hint_allennlp/cost/flops.py`) and the FLOPs torch's
`FlopCounterMode` counts in one more run of each setting, with the GFLOP/s of both, and the bytes
held per cached task, measured (every tensor of what the model keeps) against appendix C's
formulas.

    python -m benchmark decoder_only --models small --threads 1 --output-dir benchmark_output
"""

import argparse
import contextlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence
from unittest import mock

import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from torch.utils.flop_counter import FlopCounterMode
from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration
from transformers.activations import ACT2FN

import hint_allennlp.models.instruction_causal_lm as instruction_causal_lm
from benchmark.harness import ResultRow, log, write_report
from benchmark.inference import SniShape, random_sequences, text_field
from benchmark.models import FIXTURES, MODEL_SHAPES, build_checkpoint, build_model
from benchmark.timing import Measurement, interleaved, paired_ratio
from hint_allennlp.cost.flops import TaskLengths, cached_task_inference_flops, inference_flops
from hint_allennlp.cost.memory import (
    appendix_c_cached_task_bytes,
    cached_task_bytes,
    key_value_cache_bytes,
)

SETTINGS = (
    "hint_cached",
    "decoder_only_cached",
    "decoder_only_expanded",
    "decoder_only",
    "tk_instruct",
)
# What a run times unless `--settings` says otherwise (the other two take most of the time).
DEFAULT_SETTINGS = ("hint_cached", "decoder_only_cached", "decoder_only_expanded")
LABELS = {
    "hint_cached": "HINT, task cached",
    "decoder_only_cached": "decoder-only, instruction cached",
    "decoder_only_expanded": "KV cache, expanded per example",
    "decoder_only": "decoder-only, no cache",
    "tk_instruct": "Tk-Instruct",
}
HANDLINGS = {
    "hint_cached": "hypernetwork_with_fusion",
    "decoder_only_cached": "key_value_cached",
    "decoder_only_expanded": "key_value_cached",
    "decoder_only": "concatenated",
    "tk_instruct": "concatenated",
}
# The ratios reported, (numerator, denominator, column) of wall time, where both were timed.
RATIOS = (
    ("decoder_only_expanded", "decoder_only_cached", "expanded / shared"),
    ("decoder_only", "decoder_only_cached", "decoder-only: no cache / cached"),
    ("tk_instruct", "hint_cached", "Tk-Instruct / HINT"),
    ("decoder_only_cached", "hint_cached", "decoder-only cached / HINT"),
)
BYTES_PER_VALUE = 4  # float32
GPT2_HEAD_SIZE = 64


def total_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def matched_gpt2_config(t5_config: T5Config) -> GPT2Config:
    """
    A GPT-2 of the T5's width and vocabulary, heads of 64, 1,024 positions, with the number of
    layers that brings its total parameter count closest to the T5's.
    """

    def config(layers: int) -> GPT2Config:
        return GPT2Config(
            vocab_size=t5_config.vocab_size,
            n_embd=t5_config.d_model,
            n_head=max(1, t5_config.d_model // GPT2_HEAD_SIZE),
            n_layer=layers,
            n_positions=1024,
        )

    with torch.device("meta"):
        target = total_parameters(T5ForConditionalGeneration(t5_config))
        one, two = (total_parameters(GPT2LMHeadModel(config(layers))) for layers in (1, 2))
    per_layer = two - one
    return config(max(1, round((target - (one - per_layer)) / per_layer)))


def build_gpt2_checkpoint(t5_checkpoint: Path, directory: Path, seed: int = 0) -> Path:
    """
    Saves the matched GPT-2 (random weights) with the tiny GPT-2's tokenizer files, which the
    model needs only to decode (the benchmark's ids are random).
    """
    config = matched_gpt2_config(T5Config.from_pretrained(t5_checkpoint))
    eos = json.loads((FIXTURES / "tiny-gpt2" / "config.json").read_text())["eos_token_id"]
    config.bos_token_id = config.eos_token_id = eos
    torch.manual_seed(seed)
    path = directory / f"gpt2_matching_{t5_checkpoint.name}"
    GPT2LMHeadModel(config).save_pretrained(path)
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(FIXTURES / "tiny-gpt2" / name, path / name)
    return path


def causal_lm(checkpoint: Path, output: int, cached: bool, key_values: str = "shared"):
    model = Model.from_params(
        vocab=Vocabulary(),
        params=Params(
            {
                "type": "instruction_causal_lm",
                "model_name": str(checkpoint),
                "max_decoding_steps": output,
                "task_cache_size": 16 if cached else 0,
                "instruction_key_values": key_values,
            }
        ),
    )
    model.generation_config.eos_token_id = None  # exactly `output` tokens
    return model.eval()


def earlier_causal_lm(checkpoint: Path, output: int):
    """
    The decoder-only model as it served before (`KV cache, expanded per example`): the
    instruction's keys and values copied per example, GPT-2's unfused `gelu_new` and (in
    `earlier_generate_job`) the LM head over every prompt position.
    """
    model = causal_lm(checkpoint, output, cached=True, key_values="per_example")
    for block in model.lm.transformer.h:
        block.mlp.act = ACT2FN["gelu_new"]
    return model


def logits_everywhere(model, positions):
    """In place of `logits_only_at`: the LM head over every position, as HF runs it."""
    return contextlib.nullcontext()


def t5_model(setting: str, checkpoint: Path, output: int):
    model = build_model(setting, checkpoint, max_decoding_steps=output)
    model.t5.generation_config.eos_token_id = None
    return model.eval()


def task_cached(model) -> bool:
    """Whether the model keeps the task: it is put in its cache before the timed runs."""
    return model.compiles_instructions and model.task_cache.enabled


@dataclass
class Row(ResultRow):
    setting: str
    output: int
    measurement: Measurement
    flops: float
    counted_flops: float


def generate_job(model, inputs: Dict, output: int, logits_everywhere_: bool = False):
    """
    One task's evaluation forward (generation of exactly `output` tokens), to be timed; with
    `logits_everywhere_`, the decoder-only model's LM head runs at every position.
    """

    def run() -> None:
        with contextlib.ExitStack() as stack:
            if logits_everywhere_:
                stack.enter_context(
                    mock.patch.object(instruction_causal_lm, "logits_only_at", logits_everywhere)
                )
            with torch.no_grad():
                predictions = model(**inputs)["predictions"]
        if predictions.size(1) != output:
            raise RuntimeError(f"{predictions.size(1)} tokens generated, not {output}")

    return run


def counted_flops(job) -> float:
    """The FLOPs torch's `FlopCounterMode` counts in one run of `job` (matrix products)."""
    with FlopCounterMode(display=False) as counter:
        job()
    return float(counter.get_total_flops())


def time_settings(
    t5_checkpoint: Path,
    gpt2_checkpoint: Path,
    outputs: Sequence[int],
    shape: SniShape,
    repeats: int,
    warmup: int,
    settings: Sequence[str] = DEFAULT_SETTINGS,
    log=log,
) -> List[Row]:
    generator = torch.Generator().manual_seed(0)
    instruction = random_sequences(1, shape.definition_two_positives, generator)  # [1, t]
    instances = random_sequences(shape.examples, shape.instance, generator)  # [n, i]
    instructions = instruction.expand(shape.examples, -1)
    separate = {
        "source_tokens": text_field(instances),
        "instruction_tokens": text_field(instructions),
    }
    concatenated = {"source_tokens": text_field(torch.cat([instructions, instances], dim=1))}
    builders = {
        "hint_cached": lambda output: t5_model("hint_cached", t5_checkpoint, output),
        "decoder_only_cached": lambda output: causal_lm(gpt2_checkpoint, output, cached=True),
        "decoder_only_expanded": lambda output: earlier_causal_lm(gpt2_checkpoint, output),
        "decoder_only": lambda output: causal_lm(gpt2_checkpoint, output, cached=False),
        "tk_instruct": lambda output: t5_model("tk_instruct", t5_checkpoint, output),
    }
    rows = []
    for output in outputs:
        models = {setting: builders[setting](output) for setting in settings}
        for setting in settings:  # into the cache, untimed
            model = models[setting]
            if task_cached(model):
                with torch.no_grad():
                    key, kept = model.compile_instruction(text_field(instruction))
                model.task_cache.put(key, kept)
        jobs = {
            setting: generate_job(
                models[setting],
                concatenated if setting == "tk_instruct" else separate,
                output,
                logits_everywhere_=setting == "decoder_only_expanded",
            )
            for setting in settings
        }
        log(f"output {output}: {repeats} rounds of {', '.join(settings)}")
        measurements = interleaved(jobs, repeats, warmup)
        log(f"output {output}: FLOPs counted in one more run of each")
        lengths = TaskLengths(
            instruction=shape.definition_two_positives,
            instance=shape.instance,
            output=output,
            examples=shape.examples,
        )
        for setting in settings:
            model = models[setting]
            if task_cached(model):
                flops = cached_task_inference_flops(
                    HANDLINGS[setting], model.parameter_counts, lengths
                )
            else:
                flops = inference_flops(HANDLINGS[setting], model.parameter_counts, lengths)
            rows.append(
                Row(setting, output, measurements[setting], flops, counted_flops(jobs[setting]))
            )
    return rows


@dataclass
class CachedTaskRow(ResultRow):
    """Bytes held per cached task: measured, our exact formula, appendix C's formula."""

    model: str
    measured: int
    exact: int
    appendix_c: int
    formula: str


def cached_task_memory(
    t5_checkpoint: Path, gpt2_checkpoint: Path, length: int
) -> List[CachedTaskRow]:
    """
    What each model keeps for one task of a `length`-token instruction: HINT's `TaskState`
    (generated modules and encoded instruction) and the decoder-only model's keys and values (and
    its mask, 1 byte per token), each from its `compile_instruction`, float32.
    """
    instruction = text_field(random_sequences(1, length, torch.Generator().manual_seed(2)))
    hint = t5_model("hint_cached", t5_checkpoint, 1)
    gpt2 = causal_lm(gpt2_checkpoint, 1, cached=True)
    rows = []
    for name, model in (("HINT", hint), ("decoder-only", gpt2)):
        with torch.no_grad():
            _, kept = model.compile_instruction(instruction)
        measured = sum(tensor.numel() * tensor.element_size() for _, tensor in kept.items())
        if name == "HINT":
            config, peft = model.t5.config, model.peft
            appendix_c = appendix_c_cached_task_bytes(config, peft, length, BYTES_PER_VALUE)
            exact = cached_task_bytes(config, peft, length) + length  # + the mask's bytes
            formula = "d·s + 2·a·l·d + 2·P·l·h·k"
        else:
            # appendix C.2: 2·l·h·k·s (a key and a value per head, layer and token)
            appendix_c = key_value_cache_bytes(gpt2.lm.config, length, BYTES_PER_VALUE)
            exact = appendix_c + length  # + the mask's bytes
            formula = "2·l·h·k·s"
        rows.append(CachedTaskRow(name, measured, exact, appendix_c, formula))
    return rows


def time_ratio(by_key: Dict, output: int, top: str, bottom: str) -> float:
    """The median per-round wall-time ratio of two settings at one output length."""
    numerator, denominator = by_key[(top, output)], by_key[(bottom, output)]
    return paired_ratio(numerator.measurement, denominator.measurement)


def ratio(by_key: Dict, output: int, top: str, bottom: str) -> str:
    return f"{time_ratio(by_key, output, top, bottom):.2f}"


def seconds(measurement: Measurement) -> str:
    return f"{measurement.median():.3f} ({measurement.median('cpu'):.3f})"


def report(
    shape_name: str,
    t5_checkpoint: Path,
    gpt2_checkpoint: Path,
    rows: List[Row],
    memory: List[CachedTaskRow],
    shape: SniShape,
) -> str:
    with torch.device("meta"):
        t5_parameters = total_parameters(
            T5ForConditionalGeneration(T5Config.from_pretrained(t5_checkpoint))
        )
        gpt2_config = GPT2Config.from_pretrained(gpt2_checkpoint)
        gpt2_parameters = total_parameters(GPT2LMHeadModel(gpt2_config))
    lines = [
        f"### `{shape_name}` T5 ({t5_parameters / 1e6:.1f}M parameters) against a GPT-2 of "
        f"{gpt2_config.n_layer} layers, d {gpt2_config.n_embd} ({gpt2_parameters / 1e6:.1f}M)",
        "",
        f"One task of {shape.examples} examples, instruction {shape.definition_two_positives} "
        f"tokens, input {shape.instance}, one batch. Median seconds per task, wall (CPU); "
        "ratios are medians of per-round ratios of wall time.",
        "",
    ]
    by_key = {(row.setting, row.output): row for row in rows}
    outputs = sorted({row.output for row in rows})
    timed = [setting for setting in SETTINGS if (setting, outputs[0]) in by_key]
    ratios = [
        (top, bottom, column) for top, bottom, column in RATIOS if {top, bottom} <= set(timed)
    ]
    lines += [
        "| output tokens | "
        + " | ".join(LABELS[setting] for setting in timed)
        + "".join(f" | {column}" for _, _, column in ratios)
        + " |",
        "|---" * (len(timed) + len(ratios) + 1) + "|",
    ]
    for output in outputs:
        cells = [seconds(by_key[(setting, output)].measurement) for setting in timed]
        lines.append(
            f"| {output} | "
            + " | ".join(cells)
            + "".join(f" | {ratio(by_key, output, top, bottom)}" for top, bottom, _ in ratios)
            + " |"
        )
    lines += [
        "",
        "GFLOPs per task, analytic (`hint_allennlp/cost/flops.py`; the cached settings without "
        "the instruction's own pass) and counted (torch's `FlopCounterMode`, matrix products, one "
        "run), and GFLOP/s of each over the median wall time:",
        "",
        "| output tokens | setting | analytic GFLOPs | counted GFLOPs | analytic GFLOP/s "
        "| counted GFLOP/s |",
        "|---|---|---|---|---|---|",
    ]
    for output in outputs:
        for setting in timed:
            row = by_key[(setting, output)]
            wall = row.measurement.median()
            lines.append(
                f"| {output} | {LABELS[setting]} | {row.flops / 1e9:.4g} | "
                f"{row.counted_flops / 1e9:.4g} | {row.flops / wall / 1e9:.3g} | "
                f"{row.counted_flops / wall / 1e9:.3g} |"
            )
    if {"decoder_only_cached", "hint_cached"} <= set(timed):
        lines += [
            "",
            "Decoder-only (instruction cached) against HINT (task cached), measured time against "
            "analytic FLOPs:",
            "",
            "| output tokens | time ratio (median per round) | analytic FLOPs ratio "
            "| time ratio / FLOPs ratio |",
            "|---|---|---|---|",
        ]
        for output in outputs:
            measured = time_ratio(by_key, output, "decoder_only_cached", "hint_cached")
            analytic = (
                by_key[("decoder_only_cached", output)].flops
                / by_key[("hint_cached", output)].flops
            )
            lines.append(
                f"| {output} | {measured:.2f} | {analytic:.2f} | {measured / analytic:.2f} |"
            )
    lines += [
        "",
        f"Bytes held per cached task (instruction {shape.definition_two_positives} tokens, "
        "float32), measured (every tensor the model keeps) against this project's exact count "
        "(`cost/memory.py`, plus 1 byte per token of mask) and the paper's appendix C.2 formula:",
        "",
        "| model | measured MiB | exact MiB | appendix C MiB | appendix C formula "
        "| measured / appendix C |",
        "|---|---|---|---|---|---|",
    ]
    for row in memory:
        lines.append(
            f"| {row.model} | {row.measured / 2**20:.3g} | {row.exact / 2**20:.3g} | "
            f"{row.appendix_c / 2**20:.3g} | {row.formula} | {row.measured / row.appendix_c:.3f} |"
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="small", help=f"T5 shapes, of {sorted(MODEL_SHAPES)}")
    parser.add_argument("--outputs", default="1,16", help="output tokens, comma-separated")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--settings",
        default=",".join(DEFAULT_SETTINGS),
        help=f"comma-separated, of {list(SETTINGS)}",
    )
    parser.add_argument("--output-dir", default="benchmark_output")


def run(args: argparse.Namespace) -> None:
    unknown = set(args.settings.split(",")) - set(SETTINGS)
    if unknown:
        raise ValueError(f"--settings: unknown {sorted(unknown)}; choose from {list(SETTINGS)}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    shape = SniShape(examples=args.examples)
    outputs = [int(value) for value in args.outputs.split(",")]
    settings = [setting for setting in SETTINGS if setting in args.settings.split(",")]
    sections = []
    results: Dict = {}
    with tempfile.TemporaryDirectory(prefix="decoder-only-benchmark-") as directory:
        for shape_name in args.models.split(","):
            t5_checkpoint = build_checkpoint(shape_name, directory)
            gpt2_checkpoint = build_gpt2_checkpoint(t5_checkpoint, Path(directory))
            rows = time_settings(
                t5_checkpoint,
                gpt2_checkpoint,
                outputs,
                shape,
                args.repeats,
                args.warmup,
                settings,
                log,
            )
            memory = cached_task_memory(
                t5_checkpoint, gpt2_checkpoint, shape.definition_two_positives
            )
            sections.append(report(shape_name, t5_checkpoint, gpt2_checkpoint, rows, memory, shape))
            results[shape_name] = {
                "timing": [row.to_json() for row in rows],
                "memory": [row.to_json() for row in memory],
            }
    text = "\n".join(sections)
    print(text)
    write_report(
        Path(args.output_dir) / "decoder_only",
        "HINT against a decoder-only model with its instruction key/value cache",
        args.command,
        text,
        results,
    )
