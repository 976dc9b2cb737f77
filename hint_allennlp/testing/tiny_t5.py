"""
Builds the tiny T5 v1.1-style checkpoint that the tests and the demo use in place of a hub model.

Random weights (seed 0, so every machine builds the same file) with the real T5 vocabulary, saved
with `save_pretrained` so that `T5ForConditionalGeneration.from_pretrained(path)` and
`AutoTokenizer.from_pretrained(path)` load it exactly as they would load `google/t5-base-lm-adapt`.

    python -m hint_allennlp.testing.tiny_t5 fixtures/tiny-t5 --fixtures fixtures
    python -m hint_allennlp.testing.tiny_t5 --demo output/demo/t5   # the demo's shape, DEMO_T5

The vocabulary is the checkout's `fixtures/t5-tokenizer/spiece.model`, given as an argument (from
the command line, `--fixtures`, by default `fixtures` of the current folder, the project's root).
"""

import argparse
import json
import os
from pathlib import Path
from typing import Type

import torch
from transformers import (
    PretrainedConfig,
    T5Config,
    T5ForConditionalGeneration,
    T5Tokenizer,
    T5TokenizerFast,
)

# T5's SentencePiece vocabulary, under the fixtures folder.
SPIECE_MODEL = Path("t5-tokenizer") / "spiece.model"
# The demo's T5 (`make demo`): the tiny one with a deeper, wider encoder. In the tiny T5 the
# 32,128 x 64 LM head is 25 times the encoder, so an output token costs as much as 25 input tokens
# and no way of handling the instruction can change the inference cost much; in real T5s the encoder
# is a few times the LM head. This shape (encoder 0.26M weights, LM head 2.1M) moves partway back.
DEMO_T5 = dict(d_ff=256, num_layers=4, num_decoder_layers=2)


def tiny_t5_config(
    config_class: Type[PretrainedConfig] = T5Config, **overrides
) -> PretrainedConfig:
    """
    A T5 v1.1 / LM-adapt shaped config (gated GELU, untied embeddings), scaled down; mT5's
    (`config_class` `MT5Config`) has the same shape.
    """
    settings = dict(
        vocab_size=32128,
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.1,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    settings.update(overrides)
    return config_class(**settings)


def build_tiny_t5(
    output_dir: os.PathLike, fixtures: os.PathLike, seed: int = 0, **config_overrides
) -> Path:
    """
    Writes model weights, config and tokenizer files to `output_dir` and returns it; the vocabulary
    is `fixtures`/t5-tokenizer/spiece.model.
    """
    output_dir = Path(output_dir)
    spiece_model = existing_fixture(fixtures, SPIECE_MODEL)
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(tiny_t5_config(**config_overrides))
    # HF's T5 init scales by d_model ** -0.5 etc.; fine for a random model.
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    # As the hub's T5 checkpoints: spiece.model for the slow tokenizer and tokenizer.json for the
    # fast one, legacy SentencePiece handling. The fast tokenizer is converted from the slow one
    # (built from the vocabulary file directly, transformers 4.49 segments differently from
    # SentencePiece), and the `add_prefix_space` that the slow tokenizer records is dropped, since
    # it forces a conversion at every load.
    T5Tokenizer(str(spiece_model), legacy=True, model_max_length=512).save_pretrained(output_dir)
    T5TokenizerFast.from_pretrained(output_dir, from_slow=True).save_pretrained(output_dir)
    tokenizer_config_file = output_dir / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_file.read_text())
    tokenizer_config.pop("add_prefix_space", None)
    tokenizer_config_file.write_text(json.dumps(tokenizer_config, indent=2))
    return output_dir


def existing_fixture(fixtures: os.PathLike, relative: Path) -> Path:
    """`fixtures`/`relative`, or an error saying where it was looked for."""
    path = Path(fixtures) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the fixtures folder is the project's `fixtures/` (run from the "
            "project's root, or give it with --fixtures)"
        )
    return path


def add_fixtures_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fixtures",
        default="fixtures",
        help="the project's fixtures folder (default: fixtures, in the current folder)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("output_dir", help="where to write the checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--demo", action="store_true", help="the demo's shape (DEMO_T5) instead of the tiny one"
    )
    add_fixtures_argument(parser)
    args = parser.parse_args()
    overrides = DEMO_T5 if args.demo else {}
    checkpoint = build_tiny_t5(args.output_dir, args.fixtures, seed=args.seed, **overrides)
    print(f"Tiny T5 written to {checkpoint}")


if __name__ == "__main__":
    main()
