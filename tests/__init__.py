from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_ROOT = PROJECT_ROOT / "fixtures"
TINY_T5 = FIXTURES_ROOT / "tiny-t5"
TINY_GPT2 = FIXTURES_ROOT / "tiny-gpt2"
TINY_OPT = FIXTURES_ROOT / "tiny-opt"
TINY_MT5 = FIXTURES_ROOT / "tiny-mt5"
TINY_LLAMA = FIXTURES_ROOT / "tiny-llama"
TINY_QWEN2 = FIXTURES_ROOT / "tiny-qwen2"
TINY_MISTRAL = FIXTURES_ROOT / "tiny-mistral"
# The tiny decoder-only checkpoints by family (`hint_allennlp/testing/tiny_causal_lm.py`).
TINY_CAUSAL_LMS = {
    "gpt2": TINY_GPT2,
    "opt": TINY_OPT,
    "llama": TINY_LLAMA,
    "qwen2": TINY_QWEN2,
    "mistral": TINY_MISTRAL,
}
SNI_FIXTURES = FIXTURES_ROOT / "sni"


def run_allennlp(*arguments: str) -> None:
    """
    The `allennlp` command line (its argument parser and commands) in this process, for checks
    that need no fresh process.
    """
    import sys
    from unittest import mock

    from allennlp.commands import main

    with mock.patch.object(sys, "argv", ["allennlp", *arguments]):
        main(prog="allennlp")
