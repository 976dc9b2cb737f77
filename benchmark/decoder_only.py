"""
HINT's real competitor on inference cost (paper §5.1, appendix C), measured: a decoder-only model
that caches the key/values of the instruction once per task, side by side in one run with

- HINT, task cached: `hint_seq2seq` with the task's generated modules and encoded instruction
  already in its task cache (as after `hint-compile`);
- decoder-only, instruction cached: `instruction_causal_lm` with the instruction's keys and values
  already in its task cache;
- decoder-only: the same model without its cache (instruction and input, every example);
- Tk-Instruct: the T5 on instruction and input concatenated.

The GPT-2 is random-weight, of the T5's width and vocabulary, and as many layers as bring its
total parameter count closest to the T5's (`matched_gpt2_config`). One task of `examples`
examples at SNI's 'Def + 2 Pos.' median lengths (paper Table 7: instruction 197 tokens, input 44),
random ids, in one batch; each setting generates exactly `output` tokens (EOS switched off), for
each of `outputs`. Reported: wall and CPU time per task (median over interleaved rounds,
`benchmark/timing.py`), analytic FLOPs (`hint_allennlp/cost/flops.py`), and the bytes held per
cached task, measured (every tensor of what the model keeps) against appendix C's formulas.

    python -m benchmark.decoder_only --models small --output-dir benchmark_output
"""

import argparse
import datetime
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration

from benchmark.inference import SniShape, random_sequences, text_field
from benchmark.models import MODEL_SHAPES, build_checkpoint, build_model
from benchmark.timing import Measurement, interleaved, paired_ratio
from hint_allennlp.cost.flops import TaskLengths, inference_flops
from hint_allennlp.cost.memory import cached_task_bytes, key_value_cache_bytes
from hint_allennlp.testing.tiny_causal_lm import FIXTURES

SETTINGS = ("hint_cached", "decoder_only_cached", "decoder_only", "tk_instruct")
LABELS = {
    "hint_cached": "HINT, task cached",
    "decoder_only_cached": "decoder-only, instruction cached",
    "decoder_only": "decoder-only, no cache",
    "tk_instruct": "Tk-Instruct",
}
HANDLINGS = {
    "hint_cached": "hypernetwork_with_fusion",
    "decoder_only_cached": "key_value_cached",
    "decoder_only": "concatenated",
    "tk_instruct": "concatenated",
}
# The ratios reported, (numerator, denominator, column) of wall time.
RATIOS = (
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


def causal_lm(checkpoint: Path, output: int, cached: bool):
    model = Model.from_params(
        vocab=Vocabulary(),
        params=Params(
            {
                "type": "instruction_causal_lm",
                "model_name": str(checkpoint),
                "max_decoding_steps": output,
                "task_module_cache_size": 16 if cached else 0,
            }
        ),
    )
    model.generation_config.eos_token_id = None  # exactly `output` tokens
    return model.eval()


def t5_model(setting: str, checkpoint: Path, output: int):
    model = build_model(setting, checkpoint, max_decoding_steps=output)
    model.t5.generation_config.eos_token_id = None
    return model.eval()


@dataclass
class Row:
    setting: str
    output: int
    measurement: Measurement
    flops: float

    def to_json(self) -> Dict:
        return {
            **{k: v for k, v in asdict(self).items() if k != "measurement"},
            **self.measurement.to_json(),
        }


def generate_job(model, inputs: Dict, output: int):
    """One task's evaluation forward (generation of exactly `output` tokens), to be timed."""

    def run() -> None:
        with torch.no_grad():
            predictions = model(**inputs)["predictions"]
        if predictions.size(1) != output:
            raise RuntimeError(f"{predictions.size(1)} tokens generated, not {output}")

    return run


def time_settings(
    t5_checkpoint: Path,
    gpt2_checkpoint: Path,
    outputs: Sequence[int],
    shape: SniShape,
    repeats: int,
    warmup: int,
    log=print,
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
    rows = []
    for output in outputs:
        models = {
            "hint_cached": t5_model("hint_cached", t5_checkpoint, output),
            "decoder_only_cached": causal_lm(gpt2_checkpoint, output, cached=True),
            "decoder_only": causal_lm(gpt2_checkpoint, output, cached=False),
            "tk_instruct": t5_model("tk_instruct", t5_checkpoint, output),
        }
        for setting in ("hint_cached", "decoder_only_cached"):  # into the cache, untimed
            with torch.no_grad():
                key, kept = models[setting].compile_instruction(text_field(instruction))
            models[setting].task_parameter_cache.put(key, kept)
        inputs = {
            "hint_cached": separate,
            "decoder_only_cached": separate,
            "decoder_only": separate,
            "tk_instruct": concatenated,
        }

        log(f"output {output}: {repeats} rounds of {', '.join(SETTINGS)}")
        jobs = {
            setting: generate_job(models[setting], inputs[setting], output) for setting in SETTINGS
        }
        measurements = interleaved(jobs, repeats, warmup)
        lengths = TaskLengths(
            instruction=shape.definition_two_positives,
            instance=shape.instance,
            output=output,
            examples=shape.examples,
        )
        for setting in SETTINGS:
            model = models[setting]
            flops = inference_flops(HANDLINGS[setting], model.parameter_counts, lengths)
            if setting == "hint_cached":  # the instruction is not encoded again
                counts = model.parameter_counts
                flops -= 2 * lengths.instruction * (counts.encoder + counts.generator)
            if setting == "decoder_only_cached":  # nor are its keys and values made again
                counts, t = model.parameter_counts, lengths.instruction
                flops -= 2 * counts.layers * t + 4 * counts.attention * t * (t + 1) / 2
            rows.append(Row(setting, output, measurements[setting], flops))
    return rows


@dataclass
class MemoryRow:
    """Bytes held per cached task: measured, our exact formula, appendix C's formula."""

    model: str
    measured: int
    exact: int
    appendix_c: int
    formula: str


def cached_task_memory(t5_checkpoint: Path, gpt2_checkpoint: Path, length: int) -> List[MemoryRow]:
    """
    What each model keeps for one task of a `length`-token instruction: HINT's `TaskParameters`
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
            layers = config.num_layers + config.num_decoder_layers
            heads_by_size = config.num_heads * config.d_kv
            # appendix C.2: d·s + 2·a·l·d + 2·P·l·h·k, with l all the T5's layers, no biases
            appendix_c = BYTES_PER_VALUE * (
                config.d_model * length
                + 2 * peft.adapter_size * layers * config.d_model
                + 2 * peft.prefix_length * layers * heads_by_size
            )
            exact = cached_task_bytes(config, peft, length) + length  # + the mask's bytes
            formula = "d·s + 2·a·l·d + 2·P·l·h·k"
        else:
            # appendix C.2: 2·l·h·k·s (a key and a value per head, layer and token)
            appendix_c = key_value_cache_bytes(gpt2.lm.config, length, BYTES_PER_VALUE)
            exact = appendix_c + length  # + the mask's bytes
            formula = "2·l·h·k·s"
        rows.append(MemoryRow(name, measured, exact, appendix_c, formula))
    return rows


def ratio(by_key: Dict, output: int, top: str, bottom: str) -> str:
    """The median per-round wall-time ratio of two settings at one output length."""
    numerator, denominator = by_key[(top, output)], by_key[(bottom, output)]
    return f"{paired_ratio(numerator.measurement, denominator.measurement):.2f}"


def seconds(measurement: Measurement) -> str:
    return f"{measurement.median():.3f} ({measurement.median('cpu'):.3f})"


def report(
    shape_name: str,
    t5_checkpoint: Path,
    gpt2_checkpoint: Path,
    rows: List[Row],
    memory: List[MemoryRow],
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
        "| output tokens | "
        + " | ".join(LABELS[setting] for setting in SETTINGS)
        + "".join(f" | {column}" for _, _, column in RATIOS)
        + " |",
        "|---" * (len(SETTINGS) + 4) + "|",
    ]
    by_key = {(row.setting, row.output): row for row in rows}
    outputs = sorted({row.output for row in rows})
    for output in outputs:
        cells = [seconds(by_key[(setting, output)].measurement) for setting in SETTINGS]

        lines.append(
            f"| {output} | "
            + " | ".join(cells)
            + "".join(f" | {ratio(by_key, output, top, bottom)}" for top, bottom, _ in RATIOS)
            + " |"
        )
    lines += [
        "",
        "Analytic GFLOPs per task (`hint_allennlp/cost/flops.py`; the cached settings without "
        "the instruction's own pass):",
        "",
        "| output tokens | " + " | ".join(LABELS[setting] for setting in SETTINGS) + " |",
        "|---" * (len(SETTINGS) + 1) + "|",
    ]
    for output in outputs:
        lines.append(
            f"| {output} | "
            + " | ".join(f"{by_key[(setting, output)].flops / 1e9:.3g}" for setting in SETTINGS)
            + " |"
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--models", default="small", help=f"T5 shapes, of {sorted(MODEL_SHAPES)}")
    parser.add_argument("--outputs", default="1,16", help="output tokens, comma-separated")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output-dir", default="benchmark_output")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    command = "python -m benchmark.decoder_only " + " ".join(sys.argv[1:])
    shape = SniShape(examples=args.examples)
    outputs = [int(value) for value in args.outputs.split(",")]
    sections = [
        f"Command: `{command}`\n\nMachine: {datetime.date.today()}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}\n"
    ]
    results: Dict = {"command": command}

    def log(message: str) -> None:
        print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)

    with tempfile.TemporaryDirectory(prefix="decoder-only-benchmark-") as directory:
        for shape_name in args.models.split(","):
            t5_checkpoint = build_checkpoint(shape_name, directory)
            gpt2_checkpoint = build_gpt2_checkpoint(t5_checkpoint, Path(directory))
            rows = time_settings(
                t5_checkpoint, gpt2_checkpoint, outputs, shape, args.repeats, args.warmup, log
            )
            memory = cached_task_memory(
                t5_checkpoint, gpt2_checkpoint, shape.definition_two_positives
            )
            sections.append(report(shape_name, t5_checkpoint, gpt2_checkpoint, rows, memory, shape))
            results[shape_name] = {
                "timing": [row.to_json() for row in rows],
                "memory": [asdict(row) for row in memory],
            }
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    text = "\n".join(sections)
    (output_dir / "decoder_only.md").write_text(text)
    (output_dir / "decoder_only.json").write_text(json.dumps(results, indent=2))
    print(text)


if __name__ == "__main__":
    main()
