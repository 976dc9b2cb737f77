"""
HINT on a causal LM beside the decoder-only ways of reading an instruction, measured in one run on
one random Qwen2-shaped backbone (grouped-query attention; `--width`, `--layers`, `--heads`,
`--kv-heads`):

- HINT + fusion: generated adapters and prefixes, the instruction's keys and values kept per task;
- HINT − fusion: the generated modules only, the prompt without the instruction;
- Text-to-LoRA: generated LoRA (r 8 on q, k, v, o), the prompt without the instruction;
- instruction KV cache: the fine-tuned decoder-only model with its instruction key/value cache;
- full concatenation: the same model reading instruction and input for every example.

One task of `--examples` examples at SNI's 'Def + 2 Pos.' median lengths (paper Table 7), random
ids, in one batch, each generating exactly `--output` tokens. Per setting: seconds per task (the
instruction processed once inside the timed run: from an empty task cache; median over
interleaved rounds, `benchmark/timing.py`), bytes kept per task (what `hint-compile` saves,
measured), analytic FLOPs (`hint_allennlp/cost/flops.py`), each also against full concatenation.

    python -m benchmark causal_hint --examples 100 --repeats 3
"""

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Dict

import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from transformers import Qwen2Config, Qwen2ForCausalLM

from benchmark.inference import SniShape, text_field
from benchmark.models import FIXTURES
from benchmark.timing import interleaved, paired_ratio
from hint_allennlp.cost.flops import TaskLengths, inference_flops

TOKENIZER = FIXTURES / "tiny-qwen2"
TEXT_TO_LORA_PEFT = {
    "use_adapters": False,
    "use_prefixes": False,
    "use_lora": True,
    "lora_rank": 8,
    "lora_alpha": 16,
    "lora_projections": ["q", "k", "v", "o"],
}
# label -> the `instruction_causal_lm` settings
SETTINGS: Dict[str, Dict] = {
    "HINT + fusion": {"parameter_generator": {"type": "cross_attention"}},
    "HINT − fusion": {
        "parameter_generator": {"type": "cross_attention"},
        "instruction_fusion": False,
    },
    "Text-to-LoRA": {
        "parameter_generator": {"type": "text_to_lora"},
        "peft": TEXT_TO_LORA_PEFT,
        "instruction_fusion": False,
    },
    "instruction KV cache": {},
    "full concatenation": {"task_cache_size": 0},
}
REFERENCE = "full concatenation"


def build_checkpoint(directory: Path, width: int, layers: int, heads: int, kv_heads: int) -> Path:
    """A random Qwen2 of this shape with the tiny Qwen2's tokenizer (needed only to decode)."""
    config = Qwen2Config.from_pretrained(TOKENIZER)
    config.update(
        dict(
            hidden_size=width,
            intermediate_size=4 * width,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
        )
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(directory)
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOKENIZER / name, directory / name)
    return directory


def build(checkpoint: Path, output: int, settings: Dict):
    params = {
        "type": "instruction_causal_lm",
        "model_name": str(checkpoint),
        "max_decoding_steps": output,
        "peft": {"adapter_size": 8, "prefix_length": 7},
        **settings,
    }
    torch.manual_seed(0)
    model = Model.from_params(vocab=Vocabulary(), params=Params(params)).eval()
    model.generation_config.eos_token_id = None  # exactly `output` tokens
    return model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--output", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = SniShape(examples=args.examples)
    t, i = shape.definition_two_positives, shape.instance
    generator = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = build_checkpoint(
            Path(directory), args.width, args.layers, args.heads, args.kv_heads
        )
        models = {label: build(checkpoint, args.output, s) for label, s in SETTINGS.items()}
        vocabulary = models[REFERENCE].lm.config.vocab_size
        instruction = torch.randint(10, vocabulary - 10, (1, t), generator=generator)
        inputs = {
            "instruction_tokens": text_field(instruction.expand(args.examples, -1)),
            "source_tokens": text_field(
                torch.randint(10, vocabulary - 10, (args.examples, i), generator=generator)
            ),
        }

        def job(model):
            def run() -> None:
                model.task_cache.clear()  # the instruction once, inside the timing
                with torch.no_grad():
                    model(**inputs)

            return run

        measured = interleaved(
            {label: job(model) for label, model in models.items()}, repeats=args.repeats
        )
        lengths = TaskLengths(t, i, args.output, args.examples)
        print(
            f"Qwen2-shaped, width {args.width}, {args.layers} layers, {args.heads} heads "
            f"({args.kv_heads} key/value); one task of {args.examples} examples, instruction {t} "
            f"tokens, input {i}, output {args.output}; {args.repeats} rounds\n"
        )
        print("| setting | s / task | × full | bytes kept / task | GFLOPs / task | × full |")
        print("|---|---|---|---|---|---|")
        reference_flops = inference_flops(
            "concatenated", models[REFERENCE].parameter_counts, lengths
        )
        for label, model in models.items():
            kept = 0
            if label != REFERENCE:
                _, compiled = model.compile_instruction(text_field(instruction))
                kept = sum(tensor.numel() * tensor.element_size() for _, tensor in compiled.items())
            flops = inference_flops(model.instruction_handling, model.parameter_counts, lengths)
            print(
                f"| {label} | {measured[label].median():.3f} | "
                f"{paired_ratio(measured[label], measured[REFERENCE]):.2f} | {kept:,} | "
                f"{flops / 1e9:.2f} | {flops / reference_flops:.2f} |"
            )
