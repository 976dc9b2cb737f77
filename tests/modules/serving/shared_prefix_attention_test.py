"""
`instruction_causal_lm` with its cached instructions attended as one shared copy
(`shared_prefix_attention.py`) against the model without the cache and against the instruction's
keys and values copied per example (`instruction_key_values: "per_example"`): the same tokens
(greedy, beam 3) and choice scores for the tiny GPT-2 (absolute positions) and OPT (offset
positions), tasks mixed in batches of 1, 7 and 32, prompts of different lengths (left padding);
and no tensor the size of an instruction's keys or values per example is made.
"""

from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, OPTConfig, Qwen2Config

from hint_allennlp.modules.serving.instruction_key_values import instruction_key_values
from hint_allennlp.modules.serving.shared_prefix_attention import (
    SHARED_PREFIX_ATTENTION,
    SharedPrefix,
    prefix_model_inputs,
    shared_prefix,
)
from tests.models.instruction_causal_lm_test import (
    CHECKPOINTS,
    PROMPTS_ENDING_IN_THEIR_INPUT,
    build,
    run,
)

# Three tasks whose instructions differ in length; inputs of different lengths after them.
INSTRUCTIONS = {
    "capital": "Return the capital city of the country named in the input, in one word.",
    "tense": "Say whether the main verb of the sentence is in the past or the present tense. "
    "Answer with one of the two words, past or present, and nothing else at all.",
    "first_word": "Answer with the first word of the input.",
}
INPUTS = ["Albania", "France is in Europe.", "New Delhi is large and old.", "Peru", "I ran."]
CHOICES = ["Tirana", "Paris", "New Delhi"]
BATCH_SIZES = (1, 7, 32)


def instances(reader, count, with_choices=False, instructions=INSTRUCTIONS):
    tasks = list(instructions)
    made = []
    for index in range(count):
        task = tasks[index % len(tasks)]
        made.append(
            reader.text_to_instance(
                instructions[task],
                INPUTS[index % len(INPUTS)] + " x" * (index % 3),
                [CHOICES[index % len(CHOICES)]],
                task=task,
                answer_choices=CHOICES if with_choices else None,
            )
        )
    for instance in made:
        reader.apply_token_indexers(instance)
    return made


def predictions_by_path(model, batch):
    """Each path's output on `batch`, the task cache emptied between them."""
    outputs = {}
    for path, cache_size, key_values in (
        ("shared", 16, "shared"),
        ("per_example", 16, "per_example"),
        ("uncached", 0, "shared"),
    ):
        model.task_cache.max_size = cache_size
        model.task_cache.clear()
        model.instruction_key_values = key_values
        outputs[path] = run(model, batch)
    return outputs


@pytest.mark.parametrize("beam_size", [1, 3])
@pytest.mark.parametrize("family", CHECKPOINTS)
def test_shared_instruction_generates_as_the_uncached_model(family, beam_size):
    reader, model = build(
        family, PROMPTS_ENDING_IN_THEIR_INPUT, beam_size=beam_size, max_decoding_steps=4
    )
    every = instances(reader, max(BATCH_SIZES))
    for batch_size in BATCH_SIZES:
        outputs = predictions_by_path(model, every[:batch_size])
        for path in ("per_example", "uncached"):
            assert torch.equal(outputs["shared"]["predictions"], outputs[path]["predictions"]), (
                batch_size,
                path,
            )
    # Different prompts give different predictions: the comparison can fail.
    assert len({tuple(row) for row in outputs["shared"]["predictions"].tolist()}) > 1


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_shared_instruction_scores_choices_as_the_uncached_model(family):
    reader, model = build(family)
    every = instances(reader, max(BATCH_SIZES), with_choices=True)
    for batch_size in BATCH_SIZES:
        outputs = predictions_by_path(model, every[:batch_size])
        for path in ("per_example", "uncached"):
            torch.testing.assert_close(
                outputs["shared"]["choice_scores"],
                outputs[path]["choice_scores"],
                atol=1e-5,
                rtol=1e-5,
            )
            assert torch.equal(
                outputs["shared"]["predicted_choice"], outputs[path]["predicted_choice"]
            )


class InstructionSizedTensors(TorchDispatchMode):
    """
    Counts the tensors made (every operator's outputs) that hold at least `rows` copies of an
    instruction's keys or values in one layer: [>= rows * kv_heads * t * head_dim] ending in
    head_dim.
    """

    def __init__(self, rows, kv_heads, length, head_dim):
        super().__init__()
        self.threshold, self.head_dim = rows * kv_heads * length * head_dim, head_dim
        self.found = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(output):
            if (
                isinstance(tensor, torch.Tensor)
                and tensor.dim() >= 3
                and tensor.size(-1) == self.head_dim
                and tensor.numel() >= self.threshold
            ):
                self.found[str(func)] += 1
        return output


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_no_copy_of_the_instruction_per_example(family):
    reader, model = build(family, beam_size=3, max_decoding_steps=3)
    # Two tasks of long instructions, 16 examples, 48 beams.
    long_instructions = {task: " ".join([INSTRUCTIONS[task]] * 3) for task in ("capital", "tense")}
    batch = instances(reader, 16, instructions=long_instructions)
    config = model.lm.config
    shortest = min(len(instance["instruction_tokens"]) for instance in batch)
    longest_own = max(len(instance["source_tokens"]) for instance in batch) + 3
    assert longest_own < shortest  # an example's own keys are smaller than its instruction's
    heads = config.num_attention_heads
    rows = 3 * len(batch)  # generation runs 3 beams per example
    run(model, batch)  # the instructions into the task cache
    counts = {}
    for key_values in ("shared", "per_example"):
        model.instruction_key_values = key_values
        with InstructionSizedTensors(rows, heads, shortest, config.hidden_size // heads) as seen:
            run(model, batch)
        counts[key_values] = sum(seen.found.values())
    assert counts["shared"] == 0
    # Copied per example (and beam), the instruction shows up: this test sees what it looks for.
    assert counts["per_example"] > 0


def tiny_causal_lm(family):
    common = dict(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
    configs = {
        "gpt2": lambda: GPT2Config(vocab_size=101, n_embd=32, n_layer=2, n_head=4),
        "opt": lambda: OPTConfig(**common, ffn_dim=64, word_embed_proj_dim=32),
        # grouped-query attention: 2 key/value heads for 4 query heads
        "llama": lambda: LlamaConfig(**common, intermediate_size=64, num_key_value_heads=2),
        "qwen2": lambda: Qwen2Config(**common, intermediate_size=64, num_key_value_heads=2),
    }
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(configs[family]()).eval()


@pytest.mark.parametrize("family", ["gpt2", "opt", "llama", "qwen2"])
def test_the_entry_point_gives_the_logits_of_the_whole_sequence(family):
    """
    Rows continuing one of two prefixes of different lengths (right-padded, as kept), prompts
    left-padded: the logits through `shared_prefix` are those of each row's whole sequence
    [prefix, prompt] run without a cache, whatever the architecture's positions and heads.
    """
    model = tiny_causal_lm(family)
    generator = torch.Generator().manual_seed(1)
    prefix_lengths, prompt_lengths = [9, 5], [4, 7, 1, 6, 3]
    task_index = torch.tensor([0, 1, 1, 0, 1])
    prefix_ids = torch.randint(3, 100, (2, max(prefix_lengths)), generator=generator)
    prefix_mask = torch.arange(prefix_ids.size(1)) < torch.tensor(prefix_lengths).unsqueeze(1)
    with torch.no_grad():
        past = model(
            input_ids=prefix_ids, attention_mask=prefix_mask.long(), use_cache=True
        ).past_key_values
    prefix = SharedPrefix.from_kept(instruction_key_values(past, prefix_mask), task_index)

    ids = torch.randint(3, 100, (5, max(prompt_lengths)), generator=generator)
    mask = torch.arange(ids.size(1)).flip(0) < torch.tensor(prompt_lengths).unsqueeze(1)  # left
    inputs = prefix_model_inputs(model, prefix, ids, mask, pad_id=0, for_generate=False)
    positions = (inputs["attention_mask"].cumsum(1) - 1).clamp(min=0)[:, -ids.size(1) :]
    with torch.no_grad(), shared_prefix(model, prefix):
        shared = model(**inputs, position_ids=positions, use_cache=True).logits
    assert model.config._attn_implementation != SHARED_PREFIX_ATTENTION  # restored
    for row, task in enumerate(task_index.tolist()):
        whole = torch.cat([prefix_ids[task, : prefix_lengths[task]], ids[row][mask[row]]])
        with torch.no_grad():
            expected = model(input_ids=whole.unsqueeze(0)).logits[0, -prompt_lengths[row] :]
        torch.testing.assert_close(
            shared[row, -prompt_lengths[row] :], expected, atol=1e-5, rtol=1e-5
        )
