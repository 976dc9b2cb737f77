import pytest

from hint_allennlp.cost.memory import (
    appendix_c_cached_task_bytes,
    cached_task_bytes,
    causal_task_bytes,
    decoder_only_kv_cache_bytes,
    fused_instruction_bytes,
)
from hint_allennlp.models.paper_variants import BACKBONES
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.testing.tiny_t5 import tiny_t5_config
from tests import PROJECT_ROOT


@pytest.mark.parametrize(
    "inserted_modules_config, keeps_encoded_instruction, bytes_per_value, expected_bytes",
    [
        # encoded instruction 64·10 = 640; adapters (2·8·64 + 8 + 64)·4 layers = 4384;
        # prefixes 2·7·64 = 896 per attention block, 2 + 2·2 = 6 blocks: 5376.
        (InsertedModulesConfig(adapter_size=8, prefix_length=7), True, 4, 4 * (640 + 4384 + 5376)),
        (InsertedModulesConfig(adapter_size=8, prefix_length=7), False, 2, 2 * (4384 + 5376)),
        # LoRA rank 4 on q and v (the default): 2·4·(64 + 64) = 1024 per block, 6 blocks.
        (
            InsertedModulesConfig(
                use_adapters=False, use_prefixes=False, use_lora=True, lora_rank=4
            ),
            False,
            4,
            4 * 6144,
        ),
        # ... and on q, k, v, o: 4·4·(64 + 64) = 2048 per block.
        (
            InsertedModulesConfig(
                use_adapters=False,
                use_prefixes=False,
                use_lora=True,
                lora_rank=4,
                lora_projections=("q", "k", "v", "o"),
            ),
            False,
            4,
            4 * 12288,
        ),
        (None, True, 4, 4 * 640),
    ],
)
def test_cached_task_bytes(
    inserted_modules_config, keeps_encoded_instruction, bytes_per_value, expected_bytes
):
    config = tiny_t5_config()
    assert (
        cached_task_bytes(
            config, inserted_modules_config, 10, keeps_encoded_instruction, bytes_per_value
        )
        == expected_bytes
    )


def test_appendix_c_s_formula_by_hand():
    config = tiny_t5_config()  # 2 + 2 layers, d_model 64, 4 heads of 16
    # d·s = 64·10, 2·a·l·d = 2·8·4·64, 2·P·l·h·k = 2·7·4·4·16
    expected = 4 * (640 + 4096 + 3584)
    assert appendix_c_cached_task_bytes(
        config, InsertedModulesConfig(adapter_size=8, prefix_length=7), 10
    ) == (expected)
    # the exact count adds the adapters' biases and counts prefixes per attention block (6, the
    # decoder's layers have two), not per layer
    assert cached_task_bytes(
        config, InsertedModulesConfig(adapter_size=8, prefix_length=7), 10
    ) == 4 * (640 + 4 * (2 * 8 * 64 + 8 + 64) + 6 * 2 * 7 * 64)


def test_key_value_caches_of_an_instruction():
    config = tiny_t5_config()  # 2 + 2 layers, d_model 64, 4 heads of 16
    # a key and a value of d_model per layer per token, 4 layers
    assert decoder_only_kv_cache_bytes(config, 10) == 4 * 2 * 4 * 10 * 64
    # a key and a value of 4 · 16 per decoder layer per token, 2 decoder layers
    assert fused_instruction_bytes(config, 10, bytes_per_value=2) == 2 * 2 * 2 * 10 * 4 * 16


def test_the_docs_state_the_cached_task_of_t5_xl_the_code_counts():
    xl = BACKBONES["xl"]
    peft = InsertedModulesConfig(adapter_size=xl.adapter_size, prefix_length=xl.prefix_length)
    megabytes = cached_task_bytes(xl.t5_config(), peft, 69) / 1e6
    statement = (
        f"T5-XL with a = {xl.adapter_size}, P = {xl.prefix_length}, t = 69:\n"
        f"{megabytes:.0f} MB in float32"
    )
    assert statement in (PROJECT_ROOT / "docs" / "metrics.md").read_text()


@pytest.mark.parametrize("instruction_fusion", [True, False])
def test_causal_task_bytes_are_what_hint_compile_keeps(instruction_fusion):
    """
    HINT on the tiny Qwen2 (grouped-query attention: 2 key/value heads for 4), every kind of
    module: the model's compiled task, tensor by tensor, against the formula.
    """
    from tests.models.hint_causal_lm_test import build_hint, peft, tensors
    from tests.models.instruction_causal_lm_test import read

    reader, model = build_hint("qwen2", instruction_fusion=instruction_fusion)
    instruction = tensors(read(reader)[:1])["instruction_tokens"]
    _, kept = model.compile_instruction(instruction)
    length = int(instruction["tokens"]["mask"].sum())
    assert causal_task_bytes(
        model.lm.config, InsertedModulesConfig(**peft("qwen2")), length, instruction_fusion
    ) == sum(t.numel() * t.element_size() for _, t in kept.items())
    # By hand: 2 layers of width 64, 4 heads of 16, 2 key/value heads; a = 4, P = 3, r = 4 on
    # q, k, v, o (k and v 2·16 = 32 wide); t tokens of keys and values in 2 layers with their mask.
    adapters = 2 * (2 * 4 * 64 + 4 + 64)
    prefixes = 2 * 2 * 3 * 2 * 16
    lora = 2 * (4 * (64 + 64) * 2 + 4 * (64 + 32) * 2)
    fusion = 4 * 2 * 2 * length * 2 * 16 + length if instruction_fusion else 0
    assert (
        sum(t.numel() * t.element_size() for _, t in kept.items())
        == 4 * (adapters + prefixes + lora) + fusion
    )
