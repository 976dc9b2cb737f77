"""
Instruction fusion as the cross-attentions' own keys and values of the instruction, made inside each
cross-attention once per distinct task, computes what concatenating the encoded instruction to every
example's encoder output computes.
"""

import pytest
import torch

from hint_allennlp.modules.backbones.t5 import cross_attentions
from hint_allennlp.modules.inserted.injection import inject_task_modules
from hint_allennlp.modules.inserted.task_state import ActiveTaskState, TaskState
from hint_allennlp.modules.inserted.task_vector_attention import TaskVectorT5Attention
from tests.modules.inserted.injection_test import (
    ALL_MODULES,
    REORDERED_ATOL,
    batch,
    incremental_logits,
    plain_t5,
    random_modules,
)


def fusion_t5(peft=ALL_MODULES):
    t5 = plain_t5()
    active = ActiveTaskState()
    inject_task_modules(t5, peft, active, instruction_fusion=True)
    return t5, active


def with_instructions(modules: TaskState, lengths, d_model: int) -> TaskState:
    """`modules` plus random encoded instructions of `lengths` tokens, padded to the longest."""
    torch.manual_seed(2)
    states = torch.randn(len(lengths), max(lengths), d_model)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]  # [Bm, t]
    return TaskState(
        {**dict(modules.items()), "instruction_states": states, "instruction_mask": mask}
    )


def concatenated_logits(t5, active, modules, input_ids, attention_mask, decoder_input_ids):
    """The reference: every example's memory is [encoded instruction ; encoded input]."""
    generated = TaskState(
        {key: tensor for key, tensor in modules.items() if not key.startswith("instruction_")}
    )
    with active.use(generated):  # the cross-attentions see the instruction in the memory only
        encoded = t5.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        batch_size = input_ids.size(0)
        memory = torch.cat(
            [modules["instruction_states"].expand(batch_size, -1, -1), encoded], dim=1
        )
        memory_mask = torch.cat(
            [modules["instruction_mask"].expand(batch_size, -1).long(), attention_mask], dim=1
        )
        return t5(
            encoder_outputs=(memory,),
            attention_mask=memory_mask,
            decoder_input_ids=decoder_input_ids,
        ).logits


@pytest.mark.parametrize("peft", [ALL_MODULES, None], ids=["with_generated_modules", "fusion_only"])
@pytest.mark.parametrize("lengths", [[6], [6, 3]], ids=["one_task", "two_tasks_padded"])
@torch.no_grad()
def test_fused_keys_and_values_equal_concatenating_the_instruction(peft, lengths):
    t5, active = fusion_t5(peft)
    generated = random_modules(t5, batch_size=len(lengths)) if peft is not None else TaskState({})
    modules = with_instructions(generated, lengths, t5.config.d_model)
    input_ids, attention_mask, decoder_input_ids = batch()
    expected = concatenated_logits(
        t5, active, modules, input_ids, attention_mask, decoder_input_ids
    )

    with active.use(modules):
        encoded = t5.encoder(input_ids=input_ids, attention_mask=attention_mask)
        logits = t5(
            encoder_outputs=encoded,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
        ).logits
        incremental = incremental_logits(t5, input_ids, attention_mask, decoder_input_ids)
    torch.testing.assert_close(logits, expected, atol=REORDERED_ATOL, rtol=0)
    torch.testing.assert_close(incremental, expected, atol=REORDERED_ATOL, rtol=0)

    # The instruction matters: a different one changes the output.
    negated = TaskState(
        {**dict(modules.items()), "instruction_states": -modules["instruction_states"]}
    )
    with active.use(negated):
        changed = t5(
            encoder_outputs=encoded,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
        ).logits
    assert (changed - logits).abs().max() > 1e-3


def test_fusion_only_converts_cross_attentions_and_adds_no_weights():
    t5, _ = fusion_t5(peft=None)
    fused_layers = [attention.fusion_layer for _, attention in cross_attentions(t5)]
    assert fused_layers == list(range(t5.config.num_decoder_layers))
    converted = [module for module in t5.modules() if isinstance(module, TaskVectorT5Attention)]
    assert len(converted) == t5.config.num_decoder_layers
    assert not any(attention.prefix_attention for attention in converted)
    assert t5.state_dict().keys() == plain_t5().state_dict().keys()


def test_gathered_examples_project_each_unique_instruction_once_per_layer_in_incremental_decoding():
    """
    Two examples of one task, gathered from the modules of their distinct instruction (as the model
    does for a mixed batch): every cross-attention projects that one instruction once for a whole
    incremental decoding, not once per example or per step, and the result is that of each example
    given its own copy of the modules.
    """
    t5, active = fusion_t5()
    distinct = with_instructions(random_modules(t5, batch_size=1), [6], t5.config.d_model)
    gathered = distinct.index_select(torch.tensor([0, 0]))
    copied = TaskState(dict(gathered.items()))  # the same rows, projected per example
    input_ids, attention_mask, decoder_input_ids = batch()

    projected_rows = []
    hooks = [
        attention.k.register_forward_hook(
            lambda module, inputs, output: projected_rows.append(inputs[0].size(0))
        )
        for _, attention in cross_attentions(t5)
    ]
    with torch.no_grad(), active.use(gathered):
        incremental = incremental_logits(t5, input_ids, attention_mask, decoder_input_ids)
    for hook in hooks:
        hook.remove()
    with torch.no_grad(), active.use(copied):
        expected = incremental_logits(t5, input_ids, attention_mask, decoder_input_ids)

    torch.testing.assert_close(incremental, expected, atol=REORDERED_ATOL, rtol=0)
    # k also projects the encoded input (2 rows) once per layer, into the key/value cache.
    assert (
        sorted(projected_rows)
        == [1] * t5.config.num_decoder_layers + [2] * t5.config.num_decoder_layers
    )
