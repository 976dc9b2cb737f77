"""
HINT on causal LMs (`instruction_causal_lm` with a `parameter_generator`), one row per tiny
architecture (`fixtures/tiny-{gpt2,opt,llama,qwen2}`: absolute, offset-learned and rotary positions;
GPT-2's fused `c_attn`; grouped-query attention and q/k/v biases in Llama and Qwen2): zero-started
modules leave HF's logits unchanged, generated prefixes are keys and values before the prompt
(checked against the prompt run after real tokens whose keys and values they are), and the cached
instruction path, the whole prompt, batches and single examples agree.
"""

import json

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.nn.util import move_to_device
from transformers import AutoModelForCausalLM

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.inserted.task_state import PAST_KEYS, TaskState
from hint_allennlp.modules.serving.instruction_key_values import as_layer_tuples
from hint_allennlp.modules.serving.shared_prefix_attention import SharedPrefix
from tests import FIXTURES_ROOT, TINY_CAUSAL_LMS
from tests.models.instruction_causal_lm_test import choice_instances, read, run, sequence_ids

EXPERIMENT = FIXTURES_ROOT / "configs" / "instruction_causal_lm.jsonnet"
# Every kind of module on every projection; OPT's blocks have no MLP module to put adapters after.
ALL_KINDS = {
    "adapter_size": 4,
    "prefix_length": 3,
    "use_lora": True,
    "lora_rank": 4,
    "lora_projections": ["q", "k", "v", "o"],
}
# bf16 against float32 on the tiny Qwen2, a training step (measured on the CPU: loss 7.5703
# against 7.5710, 1e-4 relative; gradients' cosine similarity 1.0000).
BF16_LOSS_TOLERANCE = 1e-3
BF16_GRADIENT_SIMILARITY = 0.99


def peft(family: str, **changes) -> dict:
    return {**ALL_KINDS, **({"use_adapters": False} if family == "opt" else {}), **changes}


def build_hint(family: str, **model):
    name = str(TINY_CAUSAL_LMS[family])
    overrides = {
        "dataset_reader.model_name": name,
        "model.model_name": name,
        "model.parameter_generator": {"type": "cross_attention"},
        "model.peft": peft(family),
        "model.max_decoding_steps": 5,
        **{f"model.{key}": value for key, value in model.items()},
    }
    params = Params.from_file(str(EXPERIMENT), params_overrides=json.dumps(overrides))
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    torch.manual_seed(0)
    return reader, Model.from_params(vocab=Vocabulary(), params=params.pop("model")).eval()


def tensors(instances):
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    return batch.as_tensor_dict()


@pytest.mark.parametrize("family", TINY_CAUSAL_LMS)
def test_zero_started_modules_give_hfs_logits_and_trained_ones_do_not(family):
    reader, model = build_hint(
        family, peft=peft(family, use_prefixes=False, start_as_plain_t5=True)
    )
    hf_model = AutoModelForCausalLM.from_pretrained(TINY_CAUSAL_LMS[family]).eval()
    instances = read(reader)
    inputs = tensors(instances)
    ids = torch.tensor([sequence_ids(instances[0], "instruction_tokens", "source_tokens")])
    with torch.no_grad():
        task = model._task_parameters_per_example(inputs["instruction_tokens"])
        with model.active_task_state.use(
            model._generated_modules(task).index_select(torch.tensor([0]))
        ):
            logits = model.lm(input_ids=ids).logits
        expected = hf_model(input_ids=ids).logits
    difference = (logits - expected).abs().max().item()
    assert difference <= 1e-5, difference
    # LoRA sized from the projections: k and v are kv_heads * head_dim wide (grouped-query).
    shape = BackboneShape.from_config(hf_model.config)
    assert task["lora_k_b"].shape[-1] == shape.num_kv_heads * shape.head_dim
    assert task["lora_q_b"].shape[-1] == shape.num_heads * shape.head_dim
    # The modules act: started elsewhere than zero, the logits move.
    with torch.no_grad():
        for mlp in model.hypernetwork.generator.mlps.values():
            mlp.output.weight.normal_(std=0.5)
        model.task_cache.clear()  # made with the weights before
        task = model._task_parameters_per_example(inputs["instruction_tokens"])
        with model.active_task_state.use(
            model._generated_modules(task).index_select(torch.tensor([0]))
        ):
            moved = model.lm(input_ids=ids).logits
    assert (moved - expected).abs().max().item() > 1e-3


def key_values_of(hf_model, reference_ids: torch.Tensor) -> TaskState:
    """The keys and values of `reference_ids` [1, P] in every layer, as generated prefixes."""
    with torch.no_grad():
        past = hf_model(input_ids=reference_ids, use_cache=True).past_key_values
    layers = as_layer_tuples(past)  # each [1, kv_heads, P, head_dim]
    return TaskState(
        {
            "prefix_key": torch.stack([key for key, _ in layers], dim=1),
            "prefix_value": torch.stack([value for _, value in layers], dim=1),
        }
    )  # [1, layers, kv_heads, P, head_dim]


@pytest.mark.parametrize("instruction_fusion", [True, False])
@pytest.mark.parametrize("family", TINY_CAUSAL_LMS)
def test_generated_prefixes_are_keys_and_values_before_the_prompt(family, instruction_fusion):
    """
    Prefixes set to the keys and values of P real tokens: the batched loss (padding on the right)
    and the batched generation (padding on the left, the instruction cached after the prefix with
    fusion) equal HF's model run on those tokens followed by each example's prompt, alone.
    """
    reader, model = build_hint(
        family,
        peft=peft(family, use_adapters=False, use_lora=False),
        instruction_fusion=instruction_fusion,
    )
    hf_model = AutoModelForCausalLM.from_pretrained(TINY_CAUSAL_LMS[family]).eval()
    reference_ids = torch.tensor([[11, 57, 203]])
    prefix = key_values_of(hf_model, reference_ids)
    model.hypernetwork.forward = lambda ids, mask: prefix.index_select(
        torch.zeros(ids.size(0), dtype=torch.long)
    )
    instances = read(reader)
    output = run(model, instances)
    prompt_fields = (
        ("instruction_tokens", "source_tokens") if instruction_fusion else ("source_tokens",)
    )
    log_likelihoods = []
    for row, instance in enumerate(instances):
        prompt = reference_ids[0].tolist() + sequence_ids(instance, *prompt_fields)
        target = sequence_ids(instance, "target_tokens")
        with torch.no_grad():
            log_probs = (
                hf_model(input_ids=torch.tensor([prompt + target])).logits[0].log_softmax(-1)
            )
            generated = hf_model.generate(
                torch.tensor([prompt]),
                attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                generation_config=model.generation_config,
            )[0, len(prompt) :]
        positions = torch.arange(len(prompt) - 1, len(prompt) + len(target) - 1)
        log_likelihoods += log_probs[positions, torch.tensor(target)].tolist()
        predictions = output["predictions"][row]
        assert torch.equal(predictions[: generated.size(0)], generated), row
        assert (predictions[generated.size(0) :] == model._pad_id).all()
    torch.testing.assert_close(
        output["loss"], -torch.tensor(log_likelihoods).mean(), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("family", TINY_CAUSAL_LMS)
def test_cached_uncached_batched_and_alone_agree(family, monkeypatch):
    """
    With every kind of module generated: rank-classification scores (the instruction's keys and
    values kept per task, then each choice) against the loss of the whole prompt, a batch of mixed
    tasks against each example alone, the task cache's hits against no cache, and the shared
    prefix (one copy of each instruction's generated prefix and keys and values) against a copy
    per row.
    """
    reader, model = build_hint(family)
    instances = choice_instances(reader)
    shared_copies = []
    from_kept = SharedPrefix.from_kept.__func__
    monkeypatch.setattr(
        SharedPrefix,
        "from_kept",
        classmethod(
            lambda cls, kept, rows: (
                shared_copies.append(kept[PAST_KEYS].size(0)) or from_kept(cls, kept, rows)
            )
        ),
    )
    batched = run(model, instances)
    assert len(model.task_cache) == 2  # the two distinct instructions
    # One copy per distinct instruction in each pass (the target's loss, the choices).
    assert shared_copies and set(shared_copies) == {2}
    model.instruction_key_values = "per_example"
    per_row = run(model, instances)
    torch.testing.assert_close(
        per_row["choice_scores"], batched["choice_scores"], atol=1e-5, rtol=1e-5
    )
    model.instruction_key_values = "shared"
    again = run(model, instances)  # from the cache
    torch.testing.assert_close(again["choice_scores"], batched["choice_scores"], atol=0, rtol=0)
    for row, instance in enumerate(instances):
        alone = run(model, [instance])
        torch.testing.assert_close(
            alone["choice_scores"][0], batched["choice_scores"][row], atol=1e-5, rtol=1e-5
        )
        gold = instance["metadata"]["gold_choice"]
        if gold is not None:  # the target is that choice: its summed log-likelihood
            target_length = len(sequence_ids(instance, "target_tokens"))
            torch.testing.assert_close(
                -alone["loss"] * target_length,
                batched["choice_scores"][row, gold],
                atol=1e-4,
                rtol=1e-5,
            )
    model.task_cache.max_size = 0
    model.task_cache.clear()
    uncached = run(model, instances)
    torch.testing.assert_close(
        uncached["choice_scores"], batched["choice_scores"], atol=1e-5, rtol=1e-5
    )
    generation = read(reader)
    generated = run(model, generation)["predictions"]
    for row, instance in enumerate(generation):
        alone = run(model, [instance])["predictions"][0]
        assert torch.equal(generated[row, : alone.size(0)], alone), row
    assert len({tuple(row) for row in generated.tolist()}) > 1


def test_without_fusion_the_prompt_leaves_the_instruction_out():
    reader, model = build_hint("qwen2", instruction_fusion=False)
    instances = read(reader)
    generated = run(model, instances)["predictions"]
    for row, instance in enumerate(instances):
        alone = run(model, [instance])["predictions"][0]
        assert torch.equal(generated[row, : alone.size(0)], alone), row
    assert model.instruction_handling == "hypernetwork"
    assert model.get_metrics()["relative_flops"] < 1


def test_what_a_causal_backbone_cannot_take_is_refused():
    with pytest.raises(ConfigurationError, match="no feed-forward module"):
        build_hint("opt", peft=peft("gpt2"))
    with pytest.raises(ConfigurationError, match="start_as_plain_t5"):
        build_hint("llama", peft=peft("llama", start_as_plain_t5=True))
    with pytest.raises(ConfigurationError, match="copies a T5 decoder"):
        build_hint(
            "gpt2",
            parameter_generator={"type": "hypertune"},
            peft=peft("gpt2", use_adapters=False, use_lora=False),
        )
    with pytest.raises(ConfigurationError, match="generated prefixes would be dropped"):
        build_hint("gpt2", gradient_checkpointing=True)
    with pytest.raises(ConfigurationError, match="needs a parameter_generator"):
        build_hint("gpt2", parameter_generator=None, instruction_fusion=False)


def test_hypters_new_instruction_encoder_is_refused_on_a_causal_backbone_and_its_copy_works():
    """
    Hypter as its authors ran it builds its separate instruction encoder as new T5 layers around
    T5's token embeddings (`pretrained_instruction_encoder: false`); a causal LM has no such
    encoder: refused, naming both fixes; a copy of the backbone (`true`) trains.
    """
    adapters_only = {"adapter_size": 4, "use_prefixes": False}
    with pytest.raises(ConfigurationError, match="gpt2 is decoder-only") as refusal:
        build_hint(
            "gpt2",
            peft=adapters_only,
            parameter_generator={"type": "hypter"},
            separate_instruction_encoder=True,
        )
    assert "pretrained_instruction_encoder: true" in str(refusal.value)
    assert "separate_instruction_encoder: false" in str(refusal.value)
    reader, model = build_hint(
        "gpt2",
        peft=adapters_only,
        parameter_generator={"type": "hypter", "pretrained_instruction_encoder": True},
        separate_instruction_encoder=True,
    )
    _, gradients = gradients_without_dropout(model, read(reader))
    assert any(name.startswith("hypernetwork.instruction_encoder.") for name in gradients)


def gradients_without_dropout(model, instances, device="cpu"):
    batch = move_to_device(tensors(instances), torch.device(device))
    model.to(device).train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        elif isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0  # OPT's layers and the generator's attention: functional dropout
    model.zero_grad()
    loss = model(**batch)["loss"]
    loss.backward()
    return loss, {
        name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None
    }


def check_gradient_checkpointing(family, device="cpu"):
    """
    Every kind of module; prefixes (a key/value cache each layer extends) where HF's checkpointing
    passes the cache on (Llama, Qwen2; GPT-2's and OPT's is refused).
    """
    modules = peft(family, use_prefixes=family not in ("gpt2", "opt"))
    reader, model = build_hint(family, peft=modules)
    instances = read(reader)
    loss, expected = gradients_without_dropout(model, instances, device)
    _, checkpointed = build_hint(family, peft=modules, gradient_checkpointing=True)
    checkpointed_loss, actual = gradients_without_dropout(checkpointed, instances, device)
    assert actual.keys() == expected.keys()
    assert any(name.startswith("hypernetwork.generator") for name in actual)
    torch.testing.assert_close(checkpointed_loss, loss, atol=1e-6, rtol=0)
    difference = max(
        (actual[name] - gradient).abs().max().item() for name, gradient in expected.items()
    )
    # Reported (`pytest -s`): the largest difference of any gradient element.
    print(f"{family} on {device}: largest gradient difference with checkpointing {difference:.1e}")
    assert difference <= 1e-6, difference


@pytest.mark.parametrize("family", TINY_CAUSAL_LMS)
def test_gradient_checkpointing_recomputes_with_the_generated_modules(family):
    check_gradient_checkpointing(family)


@pytest.mark.cuda
@pytest.mark.parametrize("family", TINY_CAUSAL_LMS)
def test_gradient_checkpointing_recomputes_with_the_generated_modules_on_cuda(family):
    check_gradient_checkpointing(family, "cuda")


def check_bf16_training_step_follows_float32(device="cpu"):
    """
    HINT on the tiny Qwen2 (grouped-query attention), every kind of module, in bf16 autocast:
    float32 weights and gradients, all finite, the loss and the gradients near float32's.
    """
    reader, model = build_hint("qwen2")
    _, bf16 = build_hint("qwen2", mixed_precision="bf16")
    bf16.load_state_dict(model.state_dict())
    instances = read(reader)
    loss, expected = gradients_without_dropout(model, instances, device)
    bf16_loss, actual = gradients_without_dropout(bf16, instances, device)
    assert bf16_loss.dtype == torch.float32 and torch.isfinite(bf16_loss)
    assert all(p.dtype == torch.float32 for p in bf16.parameters())  # autocast, float32 weights
    assert actual.keys() == expected.keys()
    assert any(name.startswith("hypernetwork.generator") for name in actual)
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in actual.values())
    # bf16 keeps 8 bits of mantissa (2^-9 relative rounding an operation).
    assert bf16_loss.item() == pytest.approx(loss.item(), rel=BF16_LOSS_TOLERANCE)
    assert bf16_loss.item() != loss.item()  # bf16 did compute
    flat, flat_bf16 = (
        torch.cat([g.flatten() for g in grads.values()]) for grads in (expected, actual)
    )
    similarity = torch.nn.functional.cosine_similarity(flat, flat_bf16, dim=0).item()
    print(
        f"bf16 on {device}: loss {bf16_loss.item():.5f} against {loss.item():.5f}, "
        f"gradient cosine similarity {similarity:.5f}"
    )
    assert similarity > BF16_GRADIENT_SIMILARITY


def test_a_bf16_training_step_follows_float32():
    check_bf16_training_step_follows_float32()


@pytest.mark.cuda
def test_a_bf16_training_step_follows_float32_on_cuda():
    check_bf16_training_step_follows_float32("cuda")
