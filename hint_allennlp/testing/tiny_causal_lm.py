"""
Builds the tiny decoder-only checkpoints that the tests and the demo use in place of `gpt2` /
`gpt2-xl`, `facebook/opt-*`, Llama 3 and Qwen2.5: a GPT-2-, an OPT-, a Llama- and a
Qwen2-architecture model, each with a
real byte-level BPE tokenizer trained with `tokenizers` on the fixture text
(`training_texts`), saved in the files the hub checkpoints ship, so that
`AutoModelForCausalLM.from_pretrained(path)` and `AutoTokenizer.from_pretrained(path)` load them
exactly as they would load the hub names.

Random weights (seed 0) and a deterministic BPE training (the same fixture files in the same
order), so every machine builds the same files.

    python -m hint_allennlp.testing.tiny_causal_lm gpt2 fixtures/tiny-gpt2 --fixtures fixtures
    python -m hint_allennlp.testing.tiny_causal_lm opt fixtures/tiny-opt --fixtures fixtures
    python -m hint_allennlp.testing.tiny_causal_lm llama fixtures/tiny-llama --fixtures fixtures
    python -m hint_allennlp.testing.tiny_causal_lm qwen2 fixtures/tiny-qwen2 --fixtures fixtures
    python -m hint_allennlp.testing.tiny_causal_lm mistral fixtures/tiny-mistral --fixtures fixtures
    python -m hint_allennlp.testing.tiny_causal_lm gpt2 --demo output/demo/gpt2  # DEMO_SHAPE

What the two families do differently, and the fixtures keep:

- GPT-2 (`vocab.json`, `merges.txt`, `tokenizer.json`, `tokenizer_config.json`): `<|endoftext|>`
  is the last id and is BOS, EOS and unknown token at once; there is no pad token; the tokenizer
  adds no special token; positions are absolute (1,024 of them in every GPT-2).
- OPT (`vocab.json`, `merges.txt`, `special_tokens_map.json`, `tokenizer_config.json`, no
  `tokenizer.json`: the fast tokenizer is converted at load, as for the hub's OPT): ids 0-3 are
  `<s>`, `<pad>`, `</s>`, `<unk>`; `</s>` is BOS and EOS and the tokenizer prepends it to every
  sequence (`add_bos_token`); positions are learned and computed from the attention mask.
- Llama (Llama 3's files: `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`):
  `<|begin_of_text|>` is BOS, prepended to every sequence by the tokenizer's post-processor,
  `<|end_of_text|>` EOS; no pad token; rotary positions; grouped-query attention (2 key/value
  heads for 4 heads); untied LM head.
- Qwen2 (Qwen2.5's files: `vocab.json`, `merges.txt`, `tokenizer.json`, `tokenizer_config.json`):
  `<|endoftext|>` is EOS and pad token, no BOS; rotary positions; grouped-query attention; q, k
  and v projections with biases; LM head tied to the embeddings.
"""

import argparse
import functools
import json
import os
from pathlib import Path
from typing import Callable, Dict, List

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2TokenizerFast,
)

from hint_allennlp.data.instruction_suite import CATEGORIES
from hint_allennlp.data.tk_format import Demonstration, build_tk_prompt
from hint_allennlp.testing.tiny_t5 import add_fixtures_argument

# The byte-level alphabet (256) plus merges: small enough that the LM head stays small, large
# enough that the fixture text's words are a few tokens each.
VOCABULARY_SIZE = 2000
GPT2_END_OF_TEXT = "<|endoftext|>"
OPT_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
LLAMA_BOS, LLAMA_EOS = "<|begin_of_text|>", "<|end_of_text|>"
QWEN2_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TINY_SHAPE = dict(hidden_size=64, layers=2, heads=4)
# Grouped-query attention in the Llama and Qwen2 fixtures: fewer key/value heads than heads.
TINY_KEY_VALUE_HEADS = 2
# The decoder-only model beside the demo's T5 (training_configs/demo/gpt2.jsonnet): as wide, and
# as many layers as give it about the demo T5's weights outside the embeddings and the LM head
# (tested).
DEMO_SHAPE = dict(hidden_size=64, layers=8, heads=4)


def training_texts(fixtures: os.PathLike) -> List[str]:
    """
    What the BPE is trained on, in a fixed order: every text file of the fixture data under
    `fixtures` (the project's `fixtures/`: SNI tasks,
    instruction JSON lines, P3 prompts, pretraining documents) and one Tk-Instruct prompt over the
    demo suite's words, so that the prompt format's phrases and the suite's words get merges.
    """
    paths = sorted(
        path
        for pattern in (
            "sni/tasks/*.json",
            "jsonl/*.jsonl",
            # Named, not globbed: other P3 fixtures (e.g. promptsource's renders) would change the
            # tokenizer, and so every tiny checkpoint, whenever one is added.
            "p3/prompts.jsonl",
            "p3/test_prompts.jsonl",
            "pretraining/*.txt",
        )
        for path in Path(fixtures).glob(pattern)
    )
    if not paths:
        raise FileNotFoundError(
            f"No fixture text under {fixtures}: the fixtures folder is the project's `fixtures/` "
            "(run from the project's root, or give it with --fixtures)"
        )
    words = [word for category in CATEGORIES.values() for word in category]
    demonstration = Demonstration(input=" ".join(words[::6]), output=words[0])
    suite_prompt, _ = build_tk_prompt(
        "Give the " + ", then the ".join(CATEGORIES) + " in the list.",
        [demonstration, demonstration],
        [],
        add_explanations=False,
        query_input=" ".join(words),
        count_tokens=len,
        max_tokens=10**6,
    )
    return [path.read_text(encoding="utf-8") for path in paths] + [suite_prompt]


def train_byte_level_bpe(special_tokens: List[str], texts: List[str]) -> Tokenizer:
    """GPT-2's byte-level BPE (no prefix space), trained on `texts` (`training_texts`)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCABULARY_SIZE,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def with_token_at_the_end(tokenizer: Tokenizer, token: str) -> Tokenizer:
    """
    The trained tokenizer with `token` added to its vocabulary after every merge, as a special
    token (GPT-2's `<|endoftext|>`: in `vocab.json`, the last id).
    """
    model = json.loads(tokenizer.to_str())["model"]
    vocabulary = dict(model["vocab"])
    vocabulary[token] = len(vocabulary)
    merges = [
        tuple(merge) if isinstance(merge, list) else tuple(merge.split(" "))
        for merge in model["merges"]
    ]
    extended = Tokenizer(models.BPE(vocab=vocabulary, merges=merges))
    extended.pre_tokenizer = tokenizer.pre_tokenizer
    extended.decoder = tokenizer.decoder
    extended.post_processor = tokenizer.post_processor
    extended.add_special_tokens([token])
    return extended


def save_gpt2(
    output_dir: Path, seed: int, texts: List[str], hidden_size: int, layers: int, heads: int
) -> None:
    tokenizer = with_token_at_the_end(train_byte_level_bpe([], texts), GPT2_END_OF_TEXT)
    end_of_text = tokenizer.token_to_id(GPT2_END_OF_TEXT)
    GPT2TokenizerFast(tokenizer_object=tokenizer).save_pretrained(output_dir)
    # gpt2 ships vocab.json, merges.txt, tokenizer.json and a tokenizer_config.json that holds only
    # the length; its special tokens are the tokenizer class's defaults.
    (output_dir / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1024}))
    for extra in ("special_tokens_map.json", "added_tokens.json"):
        (output_dir / extra).unlink(missing_ok=True)
    config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(),
        n_positions=1024,
        n_embd=hidden_size,
        n_layer=layers,
        n_head=heads,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
    )
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(output_dir)


def save_opt(
    output_dir: Path, seed: int, texts: List[str], hidden_size: int, layers: int, heads: int
) -> None:
    tokenizer = train_byte_level_bpe(list(OPT_SPECIAL_TOKENS), texts)
    pad, end = (tokenizer.token_to_id(token) for token in ("<pad>", "</s>"))
    output_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.model.save(str(output_dir))  # vocab.json, merges.txt
    special_tokens = {"bos_token": "</s>", "eos_token": "</s>", "unk_token": "</s>"}
    special_tokens["pad_token"] = "<pad>"
    (output_dir / "special_tokens_map.json").write_text(json.dumps(special_tokens, indent=2))
    tokenizer_config = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": True,
        "add_prefix_space": False,
        "errors": "replace",
        "model_max_length": 2048,
        **special_tokens,
    }
    (output_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    config = OPTConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden_size,
        word_embed_proj_dim=hidden_size,
        num_hidden_layers=layers,
        ffn_dim=4 * hidden_size,
        num_attention_heads=heads,
        max_position_embeddings=2048,
        pad_token_id=pad,
        bos_token_id=end,
        eos_token_id=end,
        prefix="</s>",
    )
    torch.manual_seed(seed)
    OPTForCausalLM(config).save_pretrained(output_dir)


def llama_like_shape(vocab_size: int, hidden_size: int, layers: int, heads: int) -> Dict[str, int]:
    """The config keywords Llama, Mistral and Qwen2 share (grouped-query attention)."""
    return dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=TINY_KEY_VALUE_HEADS,
        max_position_embeddings=2048,
    )


def save_llama(
    output_dir: Path,
    seed: int,
    texts: List[str],
    hidden_size: int,
    layers: int,
    heads: int,
    config_class: type = LlamaConfig,
    model_class: type = LlamaForCausalLM,
) -> None:
    tokenizer = train_byte_level_bpe([LLAMA_BOS, LLAMA_EOS], texts)
    bos, eos = (tokenizer.token_to_id(token) for token in (LLAMA_BOS, LLAMA_EOS))
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{LLAMA_BOS} $A",
                pair=f"{LLAMA_BOS} $A {LLAMA_BOS} $B",
                special_tokens=[(LLAMA_BOS, bos)],
            ),
        ]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=LLAMA_BOS, eos_token=LLAMA_EOS, model_max_length=2048
    ).save_pretrained(output_dir)
    config = config_class(
        **llama_like_shape(tokenizer.get_vocab_size(), hidden_size, layers, heads),
        bos_token_id=bos,
        eos_token_id=eos,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model_class(config).save_pretrained(output_dir)


def save_qwen2(
    output_dir: Path, seed: int, texts: List[str], hidden_size: int, layers: int, heads: int
) -> None:
    tokenizer = train_byte_level_bpe(list(QWEN2_SPECIAL_TOKENS), texts)
    end_of_text = tokenizer.token_to_id(QWEN2_SPECIAL_TOKENS[0])
    Qwen2TokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=QWEN2_SPECIAL_TOKENS[0],
        pad_token=QWEN2_SPECIAL_TOKENS[0],
        unk_token=None,
        bos_token=None,
        model_max_length=2048,
    ).save_pretrained(output_dir)
    tokenizer.model.save(str(output_dir))  # vocab.json, merges.txt, as the hub's Qwen2.5
    (output_dir / "special_tokens_map.json").unlink(missing_ok=True)
    config = Qwen2Config(
        **llama_like_shape(tokenizer.get_vocab_size(), hidden_size, layers, heads),
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    Qwen2ForCausalLM(config).save_pretrained(output_dir)


BUILDERS: Dict[str, Callable[..., None]] = {
    "gpt2": save_gpt2,
    "opt": save_opt,
    "llama": save_llama,
    "qwen2": save_qwen2,
    # A further Llama-like architecture: Llama's files and shape, Mistral's classes.
    "mistral": functools.partial(
        save_llama, config_class=MistralConfig, model_class=MistralForCausalLM
    ),
}


def build_tiny_causal_lm(
    family: str, output_dir: os.PathLike, fixtures: os.PathLike, seed: int = 0, **shape: int
) -> Path:
    """
    Writes a tiny `family` (of `BUILDERS`) checkpoint with its tokenizer, trained on the text of
    `fixtures` (`training_texts`), to `output_dir` and returns it; `shape` overrides `hidden_size`,
    `layers`, `heads` of `TINY_SHAPE`.
    """
    if family not in BUILDERS:
        raise ValueError(f"Unknown family {family!r}; choose from {sorted(BUILDERS)}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    BUILDERS[family](output_dir, seed, training_texts(fixtures), **{**TINY_SHAPE, **shape})
    return output_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("family", choices=sorted(BUILDERS))
    parser.add_argument("output_dir", help="where to write the checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--demo", action="store_true", help="the demo's shape (DEMO_SHAPE) instead of the tiny one"
    )
    add_fixtures_argument(parser)
    args = parser.parse_args()
    shape = DEMO_SHAPE if args.demo else {}
    checkpoint = build_tiny_causal_lm(
        args.family, args.output_dir, args.fixtures, args.seed, **shape
    )
    print(f"Tiny {args.family} written to {checkpoint}")


if __name__ == "__main__":
    main()
