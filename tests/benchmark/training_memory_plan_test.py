import json

import _jsonnet
import pytest
import torch

from benchmark.training_memory_plan import (
    GB,
    PLANNED_BACKBONES,
    Lengths,
    adafactor_values,
    generated_module_values,
    markdown_table,
    plan,
)
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from tests import PROJECT_ROOT


def test_xl_generated_modules_are_counted_per_example():
    # At XL with a = 512 one example's generated adapters are 2·a·d·48 ≈ 101 M values (the docs).
    adapters = 48 * (2 * 512 * 2048 + 512 + 2048)  # with their biases
    prefixes = 3 * 24 * 2 * 30 * 32 * 64  # P = 30 in 24 encoder + 48 decoder attentions
    fusion = 24 * 2 * 1024 * 32 * 64  # the instruction's keys and values in 24 cross-attentions
    encoded_instruction = 1024 * 2048
    assert adapters == pytest.approx(101e6, rel=0.01)
    assert (
        generated_module_values("xl", Lengths())
        == adapters + prefixes + fusion + encoded_instruction
    )
    row = plan("xl", "ddp", gradient_checkpointing=False, bf16=False)
    assert row.generated_modules_per_example == 2 * 4 * (
        adapters + prefixes + fusion + encoded_instruction
    )


def test_weights_gradients_and_optimizer_state_by_strategy():
    ddp = plan("base", "ddp", gradient_checkpointing=False, bf16=False)
    fsdp = plan("base", "fsdp", gradient_checkpointing=False, bf16=False, devices=8)
    assert ddp.weights == 4 * ddp.parameters
    assert ddp.gradients == 2 * 4 * ddp.parameters  # and DDP's buckets
    # FSDP: an eighth, plus one unsharded unit (here the 2 x 32128 x 768 embeddings and
    # output layer).
    unit = 2 * 32128 * 768 + 2 * 768  # and the two stacks' final layer norms: the root unit
    assert fsdp.weights == 4 * fsdp.parameters / 8 + 4 * unit
    assert fsdp.gradients == 4 * fsdp.parameters / 8 + 4 * unit
    assert adafactor_values(torch.Size([768, 2048])) == 768 + 2048
    assert adafactor_values(torch.Size([768])) == 768
    assert plan("base", "ddp", False, True).weights == 6 * ddp.parameters  # + bf16 copies


def test_checkpointing_and_bf16_shrink_activations_not_weights():
    plain = plan("xl", "fsdp", gradient_checkpointing=False, bf16=False)
    checkpointed = plan("xl", "fsdp", gradient_checkpointing=True, bf16=False)
    both = plan("xl", "fsdp", gradient_checkpointing=True, bf16=True)
    assert checkpointed.activations_per_example < plain.activations_per_example / 10
    assert both.activations_per_example < checkpointed.activations_per_example
    assert both.generated_modules_per_example == checkpointed.generated_modules_per_example / 2
    assert checkpointed.fixed == plain.fixed


@pytest.mark.parametrize("backbone", ["xl", "xxl"])
def test_large_backbone_configs_default_to_settings_that_fit_80_gb(backbone):
    hint_experiment = PROJECT_ROOT / "training_configs" / "sni" / "def" / "hint.jsonnet"
    snippet = f"""
        local experiment = import "{hint_experiment}";
        experiment({{ backbone: "{backbone}", cuda_devices: [0, 1, 2, 3, 4, 5, 6, 7] }})
    """
    config = json.loads(_jsonnet.evaluate_snippet("experiment", snippet))
    row = plan(
        backbone,
        "fsdp" if "ddp_accelerator" in config["distributed"] else "ddp",
        gradient_checkpointing=config["model"]["gradient_checkpointing"],
        bf16=config["model"]["mixed_precision"] == "bf16",
    )
    assert row.total(config["data_loader"]["batch_size"]) < 80 * GB


def test_the_docs_hold_the_table_the_code_makes():
    assert markdown_table() in (PROJECT_ROOT / "docs" / "training_large_models.md").read_text()


def test_the_docs_state_the_shrink_of_activations_the_plan_makes():
    factors = [
        plan(backbone, strategy, False, bf16).activations_per_example
        / plan(backbone, strategy, True, bf16).activations_per_example
        for backbone in PLANNED_BACKBONES
        for strategy in ("ddp", "fsdp")
        for bf16 in (False, True)
    ]
    phrase = f"they shrink {min(factors):.0f}- to {max(factors):.0f}-fold"
    assert phrase in (PROJECT_ROOT / "docs" / "training_large_models.md").read_text()


@pytest.mark.parametrize("bf16", [False, True])
def test_causal_hint_training_is_what_the_tiny_qwen2_model_holds(bf16):
    """
    HINT on the tiny Qwen2 (tied embeddings, grouped-query attention), every kind of module: the
    plan's parameters, AdamW's state after a step and one example's generated modules, measured.
    """
    from benchmark.training_memory_plan import causal_hint_training
    from tests.models.hint_causal_lm_test import (
        build_hint,
        gradients_without_dropout,
        peft,
        tensors,
    )
    from tests.models.instruction_causal_lm_test import read

    reader, model = build_hint("qwen2", instruction_fusion=False)
    row = causal_hint_training(
        model.lm.config, InsertedModulesConfig(**peft("qwen2")), "cross_attention", bf16=bf16
    )
    parameters = list(model.parameters())
    assert row.parameters == sum(p.numel() for p in parameters)
    assert row.weights == (6 if bf16 else 4) * row.parameters
    instances = read(reader)
    gradients_without_dropout(model, instances)
    optimizer = torch.optim.AdamW(parameters)
    optimizer.step()
    moments = sum(
        tensor.numel() * tensor.element_size()
        for state in optimizer.state.values()
        for name, tensor in state.items()
        if name != "step"
    )
    assert row.adamw == moments
    _, kept = model.compile_instruction(tensors(instances[:1])["instruction_tokens"])
    assert row.generated_modules_per_example == 2 * (2 if bf16 else 4) / 4 * sum(
        t.numel() * t.element_size() for _, t in kept.items()
    )
