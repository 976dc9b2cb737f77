"""
The generated modules inside T5: with the modules off (`use(None)`) the injected T5 is HuggingFace's
T5 to the last digit; with modules active, each kind reaches every layer it should and changes what
it should; outside its model's forward pass (no `use` at all) an injected layer is refused.
"""

import pytest
import torch
from transformers import AutoModelForCausalLM, T5ForConditionalGeneration
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from hint_allennlp.modules.backbones.shape import BackboneShape
from hint_allennlp.modules.backbones.t5 import attention_layers, ffn_layers
from hint_allennlp.modules.hypernetwork.parameter_generators import CrossAttentionGenerator
from hint_allennlp.modules.inserted.adapter import AdapterT5LayerFF
from hint_allennlp.modules.inserted.injection import inject_task_modules
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from hint_allennlp.modules.inserted.lora import LORA_PROJECTIONS, LoraLinear
from hint_allennlp.modules.inserted.task_state import ActiveTaskState, TaskState
from hint_allennlp.modules.inserted.task_vector_attention import TaskVectorT5Attention
from tests import TINY_GPT2, TINY_T5

# For results computed in a different order (batched vs alone, cached vs full): float32 rounding
# moves logits of magnitude ~10 by up to ~2e-5. Same-order comparisons with HuggingFace use 1e-5.
REORDERED_ATOL = 1e-4
ALL_MODULES = InsertedModulesConfig(adapter_size=4, prefix_length=3, lora_rank=2, use_lora=True)


def plain_t5() -> T5ForConditionalGeneration:
    return T5ForConditionalGeneration.from_pretrained(TINY_T5).eval()


def injected_t5(peft: InsertedModulesConfig = ALL_MODULES):
    t5 = plain_t5()
    active = ActiveTaskState()
    inject_task_modules(t5, peft, active)
    return t5, active


def random_modules(
    t5, peft: InsertedModulesConfig = ALL_MODULES, batch_size: int = 2, seed: int = 0
) -> TaskState:
    """Modules from a randomly initialised generator over a random 'instruction'."""
    torch.manual_seed(seed)
    generator = CrossAttentionGenerator(BackboneShape.from_config(t5.config), peft)
    # Scale up so that the effects are far above float noise.
    for mlp in generator.mlps.values():
        mlp.scale = 1.0
    states = torch.randn(batch_size, 5, t5.config.d_model)
    mask = torch.ones(batch_size, 5, dtype=torch.bool)
    with torch.no_grad():
        return TaskState(generator(states, mask))


def batch():
    torch.manual_seed(1)
    input_ids = torch.randint(3, 32000, (2, 7))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 5:] = 0
    decoder_input_ids = torch.randint(3, 32000, (2, 4))
    decoder_input_ids[:, 0] = 0
    return input_ids, attention_mask, decoder_input_ids


def incremental_logits(t5, input_ids, attention_mask, decoder_input_ids):
    """Decoder logits computed one token at a time with the key/value cache: [B, L, V]."""
    encoder_outputs = t5.encoder(input_ids=input_ids, attention_mask=attention_mask)
    past, steps = EncoderDecoderCache(DynamicCache(), DynamicCache()), []
    for position in range(decoder_input_ids.size(1)):
        output = t5(
            encoder_outputs=encoder_outputs,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids[:, position : position + 1],
            past_key_values=past,
            use_cache=True,
        )
        past = output.past_key_values
        steps.append(output.logits)
    return torch.cat(steps, dim=1)


def test_injection_converts_every_layer_it_should():
    t5, _ = injected_t5()
    config = t5.config
    attention_slots = BackboneShape.from_config(config).attention_slots
    assert attention_slots == config.num_layers + 2 * config.num_decoder_layers
    attentions = list(attention_layers(t5))
    assert [slot for slot, _ in attentions] == list(range(attention_slots))
    assert all(isinstance(attention, TaskVectorT5Attention) for _, attention in attentions)
    assert all(isinstance(layer, AdapterT5LayerFF) for _, layer in ffn_layers(t5))
    for _, attention in attentions:
        # LoRA on the query and value projections only, as the reference's
        # lora_ranks=(r, None, r, None)
        assert [
            name for name in LORA_PROJECTIONS if isinstance(getattr(attention, name), LoraLinear)
        ] == ["q", "v"]
    # Weights keep HuggingFace's names, so plain T5 checkpoints load into the injected model.
    assert t5.state_dict().keys() == plain_t5().state_dict().keys()


@torch.no_grad()
def test_modules_off_compute_exactly_plain_t5():
    t5, active = injected_t5()
    reference = plain_t5()
    input_ids, attention_mask, decoder_input_ids = batch()
    with active.use(None):
        ours = t5(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
        ).logits
        ours_incremental = incremental_logits(t5, input_ids, attention_mask, decoder_input_ids)
    theirs = reference(
        input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
    ).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        ours_incremental,
        incremental_logits(reference, input_ids, attention_mask, decoder_input_ids),
        atol=1e-5,
        rtol=0,
    )


@torch.no_grad()
@pytest.mark.parametrize(
    "peft",
    [
        InsertedModulesConfig(prefix_length=3, use_adapters=False),
        InsertedModulesConfig(adapter_size=4, use_prefixes=False),
        InsertedModulesConfig(lora_rank=2, use_adapters=False, use_prefixes=False, use_lora=True),
    ],
    ids=["prefixes", "adapters", "lora"],
)
def test_a_layer_used_outside_its_models_forward_is_refused(peft):
    """It used to run as plain T5, silently without the modules its model would give it."""
    t5, active = injected_t5(peft)
    input_ids, attention_mask, decoder_input_ids = batch()
    with pytest.raises(RuntimeError, match="ran outside its model's forward pass"):
        t5(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
    with active.use(random_modules(t5, peft)):
        t5(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
    with pytest.raises(RuntimeError, match="ran outside its model's forward pass"):
        t5(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)


@torch.no_grad()
def test_a_causal_lms_hooks_used_outside_its_models_forward_are_refused():
    """The hooks that give a decoder-only model its adapters and LoRA read the same context."""
    peft = InsertedModulesConfig(adapter_size=4, lora_rank=2, use_prefixes=False, use_lora=True)
    lm = AutoModelForCausalLM.from_pretrained(TINY_GPT2).eval()
    plain = lm(input_ids=torch.tensor([[5, 6, 7]])).logits
    active = ActiveTaskState()
    inject_task_modules(lm, peft, active)
    with pytest.raises(RuntimeError, match="ran outside its model's forward pass"):
        lm(input_ids=torch.tensor([[5, 6, 7]]))
    with active.use(None):
        torch.testing.assert_close(lm(input_ids=torch.tensor([[5, 6, 7]])).logits, plain)


@torch.no_grad()
def test_start_as_plain_t5_computes_plain_t5_with_modules_active():
    peft = InsertedModulesConfig(
        adapter_size=4, prefix_length=3, lora_rank=2, use_lora=True, start_as_plain_t5=True
    )
    t5, active = injected_t5(peft)
    torch.manual_seed(0)
    generator = CrossAttentionGenerator(BackboneShape.from_config(t5.config), peft)
    modules = TaskState(
        generator(torch.randn(2, 5, t5.config.d_model), torch.ones(2, 5, dtype=torch.bool))
    )
    assert modules["prefix_key"].abs().sum() > 0  # the prefixes exist; their gate is closed
    input_ids, attention_mask, decoder_input_ids = batch()
    reference = plain_t5()
    theirs = reference(
        input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
    ).logits
    theirs_incremental = incremental_logits(reference, input_ids, attention_mask, decoder_input_ids)
    with active.use(modules):
        ours = t5(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
        ).logits
        ours_incremental = incremental_logits(t5, input_ids, attention_mask, decoder_input_ids)
    # Exact in arithmetic; in float32 the softmax over the longer [prefix ; sequence] rows
    # rounds differently.
    torch.testing.assert_close(ours, theirs, atol=REORDERED_ATOL, rtol=0)
    torch.testing.assert_close(ours_incremental, theirs_incremental, atol=REORDERED_ATOL, rtol=0)


@torch.no_grad()
def test_incremental_decoding_with_prefixes_matches_full_forward():
    # Prefixes are prepended at every step and never cached: the cache must not change the result.
    t5, active = injected_t5()
    modules = random_modules(t5)
    input_ids, attention_mask, decoder_input_ids = batch()
    with active.use(modules):
        full = t5(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
        ).logits
        incremental = incremental_logits(t5, input_ids, attention_mask, decoder_input_ids)
    torch.testing.assert_close(incremental, full, atol=REORDERED_ATOL, rtol=0)


def outputs_by_module(t5, active, modules, module_type):
    """The output of every module of `module_type`, without and with the task modules active."""
    captured = {False: [], True: []}
    state = {"active": False}

    def capture(module, inputs, output):
        captured[state["active"]].append(output[0] if isinstance(output, tuple) else output)

    hooks = [
        module.register_forward_hook(capture)
        for module in t5.modules()
        if isinstance(module, module_type)
    ]
    input_ids, attention_mask, decoder_input_ids = batch()
    with torch.no_grad(), active.use(None):
        t5(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
    with torch.no_grad():
        state["active"] = True
        with active.use(modules):
            t5(
                input_ids=input_ids,
                attention_mask=attention_mask,
                decoder_input_ids=decoder_input_ids,
            )
    for hook in hooks:
        hook.remove()
    return list(zip(captured[False], captured[True]))


@pytest.mark.parametrize(
    "peft, module_type, expected_count",
    [
        # encoder self-attention (2), decoder self-attention (2), decoder cross-attention (2)
        (InsertedModulesConfig(prefix_length=3, use_adapters=False), TaskVectorT5Attention, 6),
        # feed-forward blocks of 2 encoder + 2 decoder layers
        (InsertedModulesConfig(adapter_size=4, use_prefixes=False), AdapterT5LayerFF, 4),
        # q and v of the 6 attention blocks
        (
            InsertedModulesConfig(
                lora_rank=2, use_adapters=False, use_prefixes=False, use_lora=True
            ),
            LoraLinear,
            12,
        ),
    ],
    ids=["prefixes", "adapters", "lora"],
)
def test_each_module_kind_changes_every_layer_it_reaches(peft, module_type, expected_count):
    t5, active = injected_t5(peft)
    pairs = outputs_by_module(t5, active, random_modules(t5, peft), module_type)
    assert len(pairs) == expected_count
    for plain, with_modules in pairs:
        assert (plain - with_modules).abs().max() > 1e-3


def test_prefixes_reach_all_three_attention_kinds():
    # The slots that test_each_module_kind_changes_every_layer_it_reaches sees changed are these.
    t5, _ = injected_t5(InsertedModulesConfig(use_adapters=False))
    slots = {slot: attention for slot, attention in attention_layers(t5)}
    assert slots[0] is t5.encoder.block[0].layer[0].SelfAttention
    assert slots[2] is t5.decoder.block[0].layer[0].SelfAttention
    assert slots[3] is t5.decoder.block[0].layer[1].EncDecAttention


@torch.no_grad()
def test_per_example_modules_equal_running_each_example_alone():
    t5, active = injected_t5()
    modules = random_modules(t5, batch_size=2)
    input_ids, attention_mask, decoder_input_ids = batch()
    with active.use(modules):
        together = t5(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids
        ).logits
    for example in range(2):
        alone_modules = modules.index_select(torch.tensor([example]))
        with active.use(alone_modules):
            alone = t5(
                input_ids=input_ids[example : example + 1],
                attention_mask=attention_mask[example : example + 1],
                decoder_input_ids=decoder_input_ids[example : example + 1],
            ).logits
        torch.testing.assert_close(
            together[example : example + 1], alone, atol=REORDERED_ATOL, rtol=0
        )
