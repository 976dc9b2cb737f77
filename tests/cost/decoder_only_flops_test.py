"""
The decoder-only FLOPs of `hint_allennlp/cost/flops.py`: the counts are the model's weights, the
formulas are what FlopCounterMode measures on HF's GPT-2 and OPT when the model runs what they
count, token by token (the prompt causally, then each generated token fed back), and caching the
instruction saves exactly its layers' work n − 1 times.
"""

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from hint_allennlp.cost.flops import (
    DecoderOnlyCounts,
    TaskLengths,
    cached_task_inference_flops,
    inference_flops,
)
from tests import TINY_GPT2, TINY_OPT

CHECKPOINTS = {"gpt2": TINY_GPT2, "opt": TINY_OPT}
INSTRUCTION, INPUT, OUTPUT, EXAMPLES = 6, 4, 3, 2


def test_counts_by_hand():
    # GPT-2, d 64, 2 layers, vocabulary 100: per layer q, k, v (3·64·64), o (64·64), feed-forward
    # 2·64·256; the LM head 64·100 (tied to the embedding, met by output positions only).
    model = GPT2LMHeadModel(GPT2Config(vocab_size=100, n_embd=64, n_layer=2, n_head=4))
    assert DecoderOnlyCounts.from_model(model) == DecoderOnlyCounts(
        layers=2 * (4 * 64 * 64 + 2 * 64 * 256), lm_head=64 * 100, attention=2 * 4 * 16
    )


def measure(forward) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward()
    return counter.get_total_flops()


def load(family):
    # Eager attention: its matmuls are what FlopCounterMode counts on every device.
    return AutoModelForCausalLM.from_pretrained(
        CHECKPOINTS[family], attn_implementation="eager"
    ).eval()


def run_token_by_token(model, ids, start: int = 0, outputs: int = OUTPUT):
    """
    Runs `ids` [1, n] from position `start` one token at a time, after the keys and values of
    the tokens before `start` (computed apart, not measured), as the formulas count: each query
    sees the keys before it and its own, and the LM head runs on the last `outputs` positions only.
    """
    past = model(ids[:, :start], use_cache=True).past_key_values if start else None
    body, head = model.base_model, model.get_output_embeddings()

    def forward() -> None:
        cache = past
        for position in range(start, ids.size(1)):
            hidden = body(ids[:, position : position + 1], past_key_values=cache, use_cache=True)
            cache = hidden.past_key_values
            if position >= ids.size(1) - outputs:
                head(hidden.last_hidden_state)

    return measure(forward)


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_concatenated_equals_flop_counter_mode(family):
    model = load(family)
    ids = torch.randint(5, 100, (1, INSTRUCTION + INPUT + OUTPUT - 1))
    lengths = TaskLengths(INSTRUCTION, INPUT, OUTPUT, examples=EXAMPLES)
    assert EXAMPLES * run_token_by_token(model, ids) == inference_flops(
        "concatenated", DecoderOnlyCounts.from_model(model), lengths
    )


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_key_value_cached_equals_flop_counter_mode(family):
    model = load(family)
    ids = torch.randint(5, 100, (1, INSTRUCTION + INPUT + OUTPUT - 1))
    instruction = run_token_by_token(model, ids[:, :INSTRUCTION], outputs=0)  # once per task
    example = run_token_by_token(model, ids, start=INSTRUCTION)
    lengths = TaskLengths(INSTRUCTION, INPUT, OUTPUT, examples=EXAMPLES)
    assert instruction + EXAMPLES * example == inference_flops(
        "key_value_cached", DecoderOnlyCounts.from_model(model), lengths
    )


def test_caching_saves_the_instructions_layers_for_all_examples_but_one():
    counts = DecoderOnlyCounts(layers=1000, lm_head=100, attention=10)
    lengths = TaskLengths(instruction=20, instance=5, output=2, examples=100)
    uncached = inference_flops("concatenated", counts, lengths)
    cached = inference_flops("key_value_cached", counts, lengths)
    instruction_alone = 2 * 1000 * 20 + 4 * 10 * 20 * 21 / 2
    assert uncached - cached == pytest.approx(99 * instruction_alone)
    omitted = inference_flops("omitted", counts, lengths)
    assert omitted < cached < uncached


def test_hint_on_a_decoder_only_model_reads_the_instruction_once_per_task():
    """
    HINT: the hypernetwork's pass over the instruction (layers, attention, generator) once per
    task; then, with fusion, the key/value cache's cost, without it the examples alone.
    """
    counts = DecoderOnlyCounts(layers=100, lm_head=10, attention=4, generator=50)
    lengths = TaskLengths(instruction=6, instance=3, output=2, examples=5)
    encoding = 2 * 6 * (100 + 50) + 4 * 4 * 6 * 7 / 2
    plain = DecoderOnlyCounts(layers=100, lm_head=10, attention=4)
    assert inference_flops("hypernetwork_with_fusion", counts, lengths) == encoding + (
        inference_flops("key_value_cached", plain, lengths)
    )
    assert inference_flops("hypernetwork", counts, lengths) == encoding + inference_flops(
        "omitted", plain, lengths
    )
    # A generator on a pooled embedding (Text-to-LoRA): its weights once per task, not per token.
    pooled = DecoderOnlyCounts(layers=100, lm_head=10, attention=4, generator_per_task=50)
    assert inference_flops("hypernetwork", pooled, lengths) == (
        inference_flops("hypernetwork", counts, lengths) - 2 * 6 * 50 + 2 * 50
    )
    with pytest.raises(ConfigurationError, match="instruction_handling must be one of"):
        inference_flops("generated", counts, lengths)


def test_a_cached_task_runs_the_examples_alone():
    counts = DecoderOnlyCounts(layers=1000, lm_head=100, attention=10, generator=50)
    lengths = TaskLengths(instruction=20, instance=5, output=2, examples=100)
    instruction_alone = 2 * 1000 * 20 + 4 * 10 * 20 * 21 / 2
    assert cached_task_inference_flops("key_value_cached", counts, lengths) == pytest.approx(
        inference_flops("key_value_cached", counts, lengths) - instruction_alone
    )
    # HINT with fusion, task cached: no hypernetwork pass and no keys and values made
    assert cached_task_inference_flops(
        "hypernetwork_with_fusion", counts, lengths
    ) == pytest.approx(cached_task_inference_flops("key_value_cached", counts, lengths))
    assert cached_task_inference_flops("concatenated", counts, lengths) == inference_flops(
        "concatenated", counts, lengths
    )
