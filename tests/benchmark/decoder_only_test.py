"""
The decoder-only side-by-side (`benchmark/decoder_only.py`) in one tiny run, with
no timing assertions: what it compares, its FLOPs and its memory check.
"""

import json

import pytest
import torch
from transformers import GPT2LMHeadModel, T5ForConditionalGeneration

from benchmark.__main__ import main
from benchmark.decoder_only import SETTINGS, matched_gpt2_config, total_parameters
from benchmark.models import MODEL_SHAPES
from hint_allennlp.testing.tiny_t5 import tiny_t5_config


def test_the_gpt2_matches_the_t5s_parameter_count_to_a_layer():
    config = tiny_t5_config(**MODEL_SHAPES["small"])
    gpt2 = matched_gpt2_config(config)
    assert (gpt2.n_embd, gpt2.vocab_size, gpt2.n_embd // gpt2.n_head) == (512, 32128, 64)
    with torch.device("meta"):
        t5 = total_parameters(T5ForConditionalGeneration(config))
        ours = total_parameters(GPT2LMHeadModel(gpt2))
        per_layer = 12 * 512**2 + 13 * 512
    assert abs(ours - t5) <= per_layer / 2


@pytest.mark.slow
def test_one_tiny_run(tmp_path):
    main(
        [
            "decoder_only",
            "--models", "tiny",
            "--examples", "2",
            "--repeats", "1",
            "--warmup", "0",
            "--outputs", "2",
            "--settings", ",".join(SETTINGS),
            "--output-dir", str(tmp_path),
        ]
    )  # fmt: skip
    recorded = json.loads((tmp_path / "decoder_only.json").read_text())
    assert recorded["command"].startswith("python -m benchmark decoder_only --models tiny ")
    results = recorded["tiny"]
    rows = {(row["setting"], row["output"]): row for row in results["timing"]}
    assert set(rows) == {(setting, 2) for setting in SETTINGS}
    flops = {setting: rows[(setting, 2)]["flops"] for setting in SETTINGS}
    counted = {setting: rows[(setting, 2)]["counted_flops"] for setting in SETTINGS}
    # What caching saves: the instruction's pass for every example.
    assert flops["decoder_only_cached"] < flops["decoder_only"]
    assert counted["decoder_only_cached"] < counted["decoder_only"]
    assert flops["hint_cached"] < flops["tk_instruct"]
    assert counted["hint_cached"] < counted["tk_instruct"]
    # The same arithmetic either way, but the earlier path's LM head over every position.
    assert flops["decoder_only_expanded"] == flops["decoder_only_cached"]
    assert counted["decoder_only_expanded"] > counted["decoder_only_cached"]
    memory = {row["model"]: row for row in results["memory"]}
    for row in memory.values():
        assert row["measured"] == row["exact"]  # every kept tensor, counted exactly
    # Appendix C.2's 2·l·h·k·s is the decoder-only cache to the byte (its mask aside).
    assert memory["decoder-only"]["measured"] - memory["decoder-only"]["appendix_c"] == 197
    text = (tmp_path / "decoder_only.md").read_text()
    assert "| decoder-only, instruction cached |" in text
    assert "| KV cache, expanded per example |" in text
    assert "| time ratio / FLOPs ratio |" in text
