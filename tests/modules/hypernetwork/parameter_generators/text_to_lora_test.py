"""
The `text_to_lora` generator (SakanaAI/text-to-lora, `src/hyper_llm_modulator/hyper_modulator.py`):
its heads in T2L's three sizes, LoRA for every slot and projection sized by the backbone (grouped-
query k and v), read from the pooled instruction whatever its padding, and trained on T5 and on a
causal LM alike.
"""

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoConfig, AutoModel, AutoTokenizer

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.hypernetwork.parameter_generators import TextToLoraGenerator
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from tests import TINY_GPT2, TINY_LLAMA, TINY_T5

LORA_ONLY = InsertedModulesConfig(
    use_adapters=False,
    use_prefixes=False,
    use_lora=True,
    lora_rank=8,
    lora_alpha=16,
    lora_projections=("q", "k", "v", "o"),
)
HEAD_IN = 512  # T2L's head_in_size


def llama_shape() -> BackboneShape:
    return BackboneShape.from_config(AutoConfig.from_pretrained(TINY_LLAMA))


@pytest.mark.parametrize("variant", ["large", "medium", "small"])
def test_heads_have_t2ls_sizes_and_the_lora_the_backbones(variant):
    shape = llama_shape()  # 4 heads of 16, 2 key/value heads
    generator = TextToLoraGenerator(shape, LORA_ONLY, variant=variant).eval()
    r = LORA_ONLY.lora_rank
    for projection, (in_size, out_size) in generator.sizes.items():
        assert (in_size, out_size) == shape.projection_sizes(projection)
        expected = {
            "large": r * (in_size + out_size),
            "medium": r * max(in_size, out_size),
            "small": max(in_size, out_size),
        }[variant]
        assert generator.heads[projection].weight.shape == (expected, HEAD_IN)
    assert generator.sizes["k"] == (64, 32)  # grouped-query: 2 heads of 16
    states = torch.randn(2, 5, shape.d_model)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    tensors = generator(states, mask)
    assert tensors["lora_k_a"].shape == (2, shape.attention_slots, 64, r)
    assert tensors["lora_k_b"].shape == (2, shape.attention_slots, r, 32)
    # The instruction is pooled over its real tokens: padding changes nothing.
    padded = generator(
        torch.cat([states, torch.randn(2, 4, shape.d_model)], 1),
        torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], 1),
    )
    for key, tensor in tensors.items():
        torch.testing.assert_close(padded[key], tensor)
    assert not torch.allclose(tensors["lora_q_a"][0], tensors["lora_q_a"][1])


def test_sizes_fall_from_large_to_small_and_wrong_settings_are_refused():
    shape = llama_shape()
    counts = [
        sum(p.numel() for p in TextToLoraGenerator(shape, LORA_ONLY, variant=v).parameters())
        for v in ("large", "medium", "small")
    ]
    assert counts == sorted(counts, reverse=True)
    with pytest.raises(ConfigurationError, match="makes lora only"):
        TextToLoraGenerator(shape, InsertedModulesConfig(use_lora=True))
    with pytest.raises(ConfigurationError, match="variant must be one of"):
        TextToLoraGenerator(shape, LORA_ONLY, variant="huge")


@pytest.mark.parametrize(
    "model_type, checkpoint", [("hint_seq2seq", TINY_T5), ("instruction_causal_lm", TINY_LLAMA)]
)
def test_trains_on_t5_and_on_a_causal_lm(model_type, checkpoint):
    torch.manual_seed(0)
    model = Model.from_params(
        vocab=Vocabulary(),
        params=Params(
            {
                "type": model_type,
                "model_name": str(checkpoint),
                "parameter_generator": {"type": "text_to_lora", "variant": "small"},
                "peft": {
                    "use_adapters": False,
                    "use_prefixes": False,
                    "use_lora": True,
                    "lora_rank": 4,
                },
            }
        ),
    )
    ids = torch.randint(5, 100, (2, 6))
    mask = torch.ones_like(ids, dtype=torch.bool)
    target = torch.cat([torch.randint(5, 100, (2, 2)), torch.full((2, 1), 1)], 1)
    if model_type == "instruction_causal_lm":
        target[:, -1] = model._eos_ids[0]
    loss = model(
        source_tokens={"tokens": {"token_ids": ids, "mask": mask}},
        instruction_tokens={"tokens": {"token_ids": ids.flip(1), "mask": mask}},
        target_tokens={"tokens": {"token_ids": target, "mask": torch.ones_like(target).bool()}},
    )["loss"]
    loss.backward()
    generator = model.hypernetwork.generator
    assert isinstance(generator, TextToLoraGenerator)
    assert all(head.weight.grad.abs().sum() > 0 for head in generator.heads.values())
    # The FLOPs count charges the generator once per task, however long the instruction.
    counts = model.parameter_counts
    assert (counts.generator, counts.generator_per_task) == generator.counted_weights()


@pytest.mark.parametrize("variant", ["large", "medium", "small"])
def test_flops_count_charges_the_generator_once_per_task_as_measured(variant):
    generator = TextToLoraGenerator(llama_shape(), LORA_ONLY, variant=variant).eval()
    per_token, per_task = generator.counted_weights()
    assert per_token == 0
    for length in (3, 11):  # one pooled embedding: the instruction's length changes nothing
        states = torch.randn(1, length, generator.shape.d_model)
        with FlopCounterMode(display=False) as counter:
            generator(states, torch.ones(1, length, dtype=torch.bool))
        assert counter.get_total_flops() == 2 * per_task


def test_a_separate_embedding_model_embeds_the_instructions_text_frozen():
    """
    T2L's external embedding model (`embedding_model`, here the tiny GPT-2 by path) on the tiny
    Llama: the instruction, decoded with Llama's tokenizer, is embedded with GPT-2's own tokenizer
    and its last real token's state; that model stays frozen and in evaluation mode.
    """
    torch.manual_seed(0)
    model = Model.from_params(
        vocab=Vocabulary(),
        params=Params(
            {
                "type": "instruction_causal_lm",
                "model_name": str(TINY_LLAMA),
                "parameter_generator": {
                    "type": "text_to_lora",
                    "embedding_model": str(TINY_GPT2),
                },
                "peft": {
                    "use_adapters": False,
                    "use_prefixes": False,
                    "use_lora": True,
                    "lora_rank": 4,
                },
            }
        ),
    )
    generator = model.hypernetwork.generator
    assert generator.task_encoder[0].in_features == AutoConfig.from_pretrained(TINY_GPT2).n_embd
    texts = ["Name the capital of the country.", "Add the two numbers."]
    rows = [model.tokenizer(text)["input_ids"] for text in texts]
    width = max(len(row) for row in rows)
    # [2, t], right-padded (Llama's tokenizer has no padding token)
    ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
    mask = torch.tensor([[True] * len(row) + [False] * (width - len(row)) for row in rows])
    model.eval()
    tensors = model.hypernetwork(ids, mask)

    gpt2_tokenizer = AutoTokenizer.from_pretrained(TINY_GPT2)
    gpt2 = AutoModel.from_pretrained(TINY_GPT2).eval()
    expected = []
    for text in texts:
        gpt2_ids = gpt2_tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            expected.append(gpt2(input_ids=gpt2_ids).last_hidden_state[:, -1])  # [1, e]
    embedding = torch.cat(expected).unsqueeze(1)  # [B, 1, e]
    reference = generator(embedding, torch.ones(2, 1, dtype=torch.bool))
    for key, tensor in reference.items():
        torch.testing.assert_close(tensors[key], tensor, msg=key)

    model.train()
    assert not generator.embedding_model.training
    target = ids[:, :3].clone()
    target[:, -1] = model._eos_ids[0]
    model(
        source_tokens={"tokens": {"token_ids": ids, "mask": mask}},
        instruction_tokens={"tokens": {"token_ids": ids, "mask": mask}},
        target_tokens={"tokens": {"token_ids": target, "mask": torch.ones_like(target).bool()}},
    )["loss"].backward()
    assert all(head.weight.grad.abs().sum() > 0 for head in generator.heads.values())
    assert all(
        not p.requires_grad and p.grad is None for p in generator.embedding_model.parameters()
    )
    with pytest.raises(ConfigurationError, match="embedding_pooling must be one of"):
        TextToLoraGenerator(llama_shape(), LORA_ONLY, embedding_pooling="max")
