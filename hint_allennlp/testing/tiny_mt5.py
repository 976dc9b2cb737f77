"""
Builds the tiny mT5-shaped checkpoint of the multilingual tests: the tiny T5's shape
(`tiny_t5.tiny_t5_config`) as an `MT5Config` (model_type "mt5"), random weights (seed 0), and a
SentencePiece vocabulary of its own, a unigram model (as mT5's) trained on the fixture text in
English, German, Russian and Greek (`fixtures/multilingual/text.txt`, written for this project),
with T5's special ids (pad 0, EOS 1, unk 2) and its 100 sentinels. Saved as `google/mt5-*` ships,
so that it loads by local path as a hub name would.

    python -m hint_allennlp.testing.tiny_mt5 fixtures/tiny-mt5 --fixtures fixtures
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

import sentencepiece
import torch
from transformers import MT5Config, MT5ForConditionalGeneration, T5Tokenizer, T5TokenizerFast

from hint_allennlp.testing.tiny_t5 import add_fixtures_argument, existing_fixture, tiny_t5_config

# The text the vocabulary is trained on, under the fixtures folder.
MULTILINGUAL_TEXT = Path("multilingual") / "text.txt"
# Pieces of the SentencePiece model (what the fixture text supports); T5's 100 sentinels follow.
VOCABULARY_PIECES = 500
SENTINELS = 100


def train_sentencepiece(text: Path, model_prefix: Path, vocab_size: int) -> Path:
    """A unigram SentencePiece model of `text` with T5's special ids; returns the model file."""
    sentencepiece.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,  # every character of the text: Cyrillic and Greek too
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        # AllenNLP's tokenizer finds the special tokens by encoding "a" and "b", each of which
        # must then be one piece (as in every hub T5 and mT5 vocabulary).
        user_defined_symbols=["▁a", "▁b"],
        num_threads=1,  # the same model on every machine
        minloglevel=2,
    )
    return model_prefix.with_suffix(".model")


def build_tiny_mt5(output_dir: os.PathLike, fixtures: os.PathLike, seed: int = 0) -> Path:
    """
    Writes model weights, config and tokenizer files to `output_dir` and returns it; the vocabulary
    is trained on `fixtures`/multilingual/text.txt.
    """
    output_dir = Path(output_dir)
    text = existing_fixture(fixtures, MULTILINGUAL_TEXT)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        spiece = train_sentencepiece(text, Path(scratch) / "spiece", VOCABULARY_PIECES)
        T5Tokenizer(str(spiece), extra_ids=SENTINELS, legacy=False).save_pretrained(output_dir)
    # The fast tokenizer converted from the slow one, as for the tiny T5 (tiny_t5.py); the
    # `add_prefix_space` that the slow one records would force that conversion at every load.
    T5TokenizerFast.from_pretrained(output_dir, from_slow=True).save_pretrained(output_dir)
    tokenizer_config_file = output_dir / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_file.read_text())
    tokenizer_config.pop("add_prefix_space", None)
    tokenizer_config_file.write_text(json.dumps(tokenizer_config, indent=2))
    torch.manual_seed(seed)
    config = tiny_t5_config(MT5Config, vocab_size=VOCABULARY_PIECES + SENTINELS)
    MT5ForConditionalGeneration(config).save_pretrained(output_dir)
    return output_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("output_dir", help="where to write the checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    add_fixtures_argument(parser)
    args = parser.parse_args()
    print(f"Tiny mT5 written to {build_tiny_mt5(args.output_dir, args.fixtures, seed=args.seed)}")


if __name__ == "__main__":
    main()
