import pytest
import torch
from allennlp.common.checks import ConfigurationError
from torch.utils.flop_counter import FlopCounterMode
from transformers import MT5ForConditionalGeneration, T5ForConditionalGeneration

from hint_allennlp.cost.flops import (
    ParameterCounts,
    TaskLengths,
    cached_task_inference_flops,
    inference_flops,
    instruction_handling,
)
from hint_allennlp.models.paper_variants import BACKBONES
from hint_allennlp.modules.inserted.injection import inject_task_modules
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.task_state import ActiveTaskState, TaskState
from hint_allennlp.testing.tiny_t5 import tiny_t5_config
from tests import PROJECT_ROOT, TINY_T5

# The tiny T5: d_model 64, 4 heads × d_kv 16 = 64, gated d_ff 128, 2 + 2 layers, vocabulary 32128.
# Encoder layer: q, k, v, o 4·64·64 = 16384 and feed-forward 3·64·128 = 24576, so E = 2·40960.
# Decoder layer: the same plus cross-attention q, o (2·64·64 = 8192), cross k, v going to X;
# D also holds the LM head 64·32128 = 2056192.
TINY_COUNTS = ParameterCounts(
    encoder=81920, cross_attention_key_value=2 * 8192, decoder=2 * 49152 + 2056192
)


@pytest.fixture
def tiny_t5():
    return T5ForConditionalGeneration.from_pretrained(TINY_T5).eval()


def test_parameter_counts_by_hand():
    assert ParameterCounts.from_t5_config(tiny_t5_config()) == TINY_COUNTS


def test_parameter_counts_are_the_model_weights(tiny_t5):
    assert ParameterCounts.from_t5_config(tiny_t5.config) == weights_by_kind(tiny_t5)


def test_parameter_counts_are_an_mt5_s_weights(tiny_mt5_checkpoint):
    """mT5 (its own config and model classes in HF) is counted from its config alike."""
    mt5 = MT5ForConditionalGeneration.from_pretrained(tiny_mt5_checkpoint)
    assert mt5.config.model_type == "mt5"
    assert ParameterCounts.from_t5_config(mt5.config) == weights_by_kind(mt5)


def weights_by_kind(model) -> ParameterCounts:
    """Every weight matrix of the model, sorted by which tokens it multiplies."""
    counts = {"encoder": 0, "cross_attention_key_value": 0, "decoder": 0}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            if name.startswith("encoder."):
                kind = "encoder"
            elif "EncDecAttention.k" in name or "EncDecAttention.v" in name:
                kind = "cross_attention_key_value"
            else:
                kind = "decoder"
            counts[kind] += module.weight.numel()
    return ParameterCounts(**counts)


# Short sequences: the analytic count leaves out the attention-score matmuls (4·s_query·s_key·64
# FLOPs per attention block and example), which at the tiny model's d_model 64 are large next to its
# weights: an encoder token of a 16-token input adds 4·16·64 = 4096 per layer to the
# 2·(40960 + 8192) of its weights, +4.2% (at T5-XL's width and SNI's lengths, ~1%). So the measured
# count must exceed the analytic one by exactly the attention scores, and by at most 5% here
# (measured: +1.3%, +0.4%, +0.6%, less than for an encoder token because the LM head's 2·2056192
# per output token dominates). Embedding lookups, layer norms, softmax and activations are neither
# counted nor measured.
INSTRUCTION, INPUT, OUTPUT, EXAMPLES = 8, 8, 2, 3
TOLERANCE = 0.05


def attention_score_flops(queries: int, keys: int) -> int:
    return 4 * queries * keys * 64


def measure(forward) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward()
    return counter.get_total_flops()


def tokens(*shape):
    return torch.randint(2, 1000, shape)


def run_tk_instruct(model):
    model(
        input_ids=tokens(EXAMPLES, INSTRUCTION + INPUT), decoder_input_ids=tokens(EXAMPLES, OUTPUT)
    )


def run_no_instruct(model):
    model(input_ids=tokens(EXAMPLES, INPUT), decoder_input_ids=tokens(EXAMPLES, OUTPUT))


def run_fusion_without_modules(model):
    """
    HINT − PEFT generation: the instruction is encoded once and its cross-attention keys and values
    made once; every example's decoder attends to them too.
    """
    active = ActiveTaskState()
    inject_task_modules(model, None, active, instruction_fusion=True)
    encoded_instruction = model.encoder(input_ids=tokens(1, INSTRUCTION)).last_hidden_state
    instruction = TaskState(
        {
            "instruction_states": encoded_instruction,
            "instruction_mask": torch.ones(1, INSTRUCTION).bool(),
        }
    )
    encoded_inputs = model.encoder(input_ids=tokens(EXAMPLES, INPUT)).last_hidden_state
    with active.use(instruction):
        model(encoder_outputs=(encoded_inputs,), decoder_input_ids=tokens(EXAMPLES, OUTPUT))


def decoder_attention_scores(encoded_length: int) -> int:
    self_attention = attention_score_flops(OUTPUT, OUTPUT)
    cross_attention = attention_score_flops(OUTPUT, encoded_length)
    return EXAMPLES * 2 * (self_attention + cross_attention)


@pytest.mark.parametrize(
    "instruction_handling, forward, attention_scores",
    [
        pytest.param(
            "concatenated",
            run_tk_instruct,
            EXAMPLES * 2 * attention_score_flops(INSTRUCTION + INPUT, INSTRUCTION + INPUT)
            + decoder_attention_scores(INSTRUCTION + INPUT),
            id="tk_instruct",
        ),
        pytest.param(
            "omitted",
            run_no_instruct,
            EXAMPLES * 2 * attention_score_flops(INPUT, INPUT) + decoder_attention_scores(INPUT),
            id="no_instruct",
        ),
        pytest.param(
            "hypernetwork_with_fusion",
            run_fusion_without_modules,
            2 * attention_score_flops(INSTRUCTION, INSTRUCTION)
            + EXAMPLES * 2 * attention_score_flops(INPUT, INPUT)
            + decoder_attention_scores(INSTRUCTION + INPUT),
            id="hint_without_peft_generation",
        ),
    ],
)
def test_analytic_flops_match_flop_counter_mode(
    tiny_t5, instruction_handling, forward, attention_scores
):
    analytic = inference_flops(
        instruction_handling,
        TINY_COUNTS,
        TaskLengths(INSTRUCTION, INPUT, OUTPUT, examples=EXAMPLES),
    )
    measured = measure(lambda: forward(tiny_t5))
    assert measured == analytic + attention_scores
    assert 1 <= measured / analytic <= 1 + TOLERANCE


# The paper's formulas (appendix C.1) charge each token N FLOPs; they are ours with half of N, N'
# and A in each place. N = 1000, N' = 100, A = 10; t = 7, i = 5, o = 3; n = 4.
HALVES = ParameterCounts(encoder=500, cross_attention_key_value=0, decoder=500, generator=50)
PAPER_LENGTHS = TaskLengths(instruction=7, instance=5, output=3, examples=4)


@pytest.mark.parametrize(
    "instruction_handling, parameters, paper_flops",
    [
        ("concatenated", HALVES, 1000 * 4 * (7 + 5 + 3)),  # N·n·(t+i+o)
        ("omitted", HALVES, 1000 * 4 * (5 + 3)),  # N·n·(i+o)
        (
            "hypernetwork",
            ParameterCounts(500, 0, 500, generator=50, encoder_modules=5, decoder_modules=5),
            7 * (1000 + 100) + 4 * (1000 + 10) * (5 + 3),  # t·(N+N') + n·(N+A)·(i+o)
        ),
    ],
)
def test_reduces_to_the_papers_formulas(instruction_handling, parameters, paper_flops):
    assert inference_flops(instruction_handling, parameters, PAPER_LENGTHS) == paper_flops


@pytest.mark.parametrize(
    "reads_instruction, instruction_fusion, instruction_format, handling",
    [
        (True, True, "hint", "hypernetwork_with_fusion"),
        (True, False, "hint", "hypernetwork"),
        (False, False, "tk_instruct", "concatenated"),
        (False, False, None, "concatenated"),  # the model alone: whatever its input holds
        (False, False, "no_instruct", "omitted"),
    ],
)
def test_the_handling_follows_the_model_and_its_reader(
    reads_instruction, instruction_fusion, instruction_format, handling
):
    assert instruction_handling(reads_instruction, instruction_fusion, instruction_format) == (
        handling
    )


def test_unknown_instruction_handling():
    with pytest.raises(ConfigurationError):
        inference_flops("prepended", TINY_COUNTS, PAPER_LENGTHS)


def test_module_counts_follow_the_cached_modules():
    counts = ParameterCounts.from_t5_config(
        tiny_t5_config(), InsertedModulesConfig(adapter_size=8, prefix_length=7), 123
    )
    # encoder: 2 layers × (adapter 1096 + one prefix block 896); decoder: 2 × (1096 + 2·896)
    assert (counts.encoder_modules, counts.decoder_modules, counts.generator) == (3984, 5776, 123)


def halves(counts: ParameterCounts) -> ParameterCounts:
    """The paper's form of `counts`: every token meets half of N, N' and A (as HALVES above)."""
    weights = counts.encoder + counts.cross_attention_key_value + counts.decoder
    modules = counts.encoder_modules + counts.decoder_modules
    return ParameterCounts(
        weights / 2, 0, weights / 2, counts.generator / 2, modules / 2, modules / 2
    )


def test_docs_metrics_md_holds_the_t5_xl_table_the_code_makes():
    xl = BACKBONES["xl"]
    config = xl.t5_config()
    plain = ParameterCounts.from_t5_config(config)
    generated = ParameterCounts.from_t5_config(
        config, InsertedModulesConfig(adapter_size=xl.adapter_size, prefix_length=xl.prefix_length)
    )
    rows = [f"n = 100, adapters a = {xl.adapter_size} and prefixes P = {xl.prefix_length}, N' = 0,"]
    for setting, instruction in (("Def", 69), ("Def + 2 Pos.", 197)):
        lengths = TaskLengths(instruction=instruction, instance=44, output=1, examples=100)
        for index, (label, handling, counts) in enumerate(
            [
                ("No-Instruct", "omitted", plain),
                ("HINT − fusion", "hypernetwork", generated),
                ("HINT", "hypernetwork_with_fusion", generated),
            ]
        ):
            ours, papers = (
                inference_flops(handling, form(counts), lengths)
                / inference_flops("concatenated", form(plain), lengths)
                for form in (lambda counts: counts, halves)
            )
            name = f"{setting} (t = {instruction})" if index == 0 else setting
            rows.append(f"| {name} | {label} | {ours:.3f} | {papers:.3f} |")
    text = (PROJECT_ROOT / "docs" / "metrics.md").read_text()
    assert [row for row in rows if row not in text] == []


def test_a_generator_on_a_pooled_embedding_is_charged_once_per_task():
    lengths = TaskLengths(instruction=6, instance=3, output=2, examples=5)
    per_token = ParameterCounts(500, 10, 500, generator=50)
    per_task = ParameterCounts(500, 10, 500, generator_per_task=50)
    assert inference_flops("hypernetwork", per_task, lengths) == (
        inference_flops("hypernetwork", per_token, lengths) - 2 * 6 * 50 + 2 * 50
    )


def test_a_cached_task_skips_the_instruction_s_encoding_and_the_generator():
    lengths = TaskLengths(instruction=6, instance=3, output=2, examples=5)
    counts = ParameterCounts(500, 10, 400, generator=50, generator_per_task=30)
    for handling in ("hypernetwork", "hypernetwork_with_fusion"):
        assert cached_task_inference_flops(handling, counts, lengths) == (
            inference_flops(handling, counts, lengths) - 2 * 6 * (500 + 50) - 2 * 30
        )
    # what keeps nothing per task costs the same
    for handling in ("concatenated", "omitted"):
        assert cached_task_inference_flops(handling, counts, lengths) == inference_flops(
            handling, counts, lengths
        )
