import pytest
import torch

from hint_allennlp.modules.inserted.task_state import TaskState


def encoded_instruction(length: int, value: float) -> TaskState:
    return TaskState(
        {
            "adapter_up_bias": torch.full((1, 2, 4), value),
            "instruction_states": torch.full((1, length, 4), value),
            "instruction_mask": torch.ones(1, length, dtype=torch.bool),
        }
    )


def test_concatenate_pads_encoded_instructions_to_the_longest_with_masked_zeros():
    joined = TaskState.concatenate([encoded_instruction(2, 1.0), encoded_instruction(5, 2.0)])
    assert joined.batch_size == 2
    assert joined["instruction_states"].shape == (2, 5, 4)
    assert joined["instruction_mask"].tolist() == [[True, True, False, False, False], [True] * 5]
    assert torch.all(joined["instruction_states"][0, 2:] == 0)
    assert torch.all(joined["instruction_states"][0, :2] == 1.0)
    # Tensors without a sequence dimension are stacked as they are.
    assert joined["adapter_up_bias"][:, 0, 0].tolist() == [1.0, 2.0]


def test_without_instruction_padding_inverts_the_padding_of_concatenate():
    joined = TaskState.concatenate([encoded_instruction(2, 1.0), encoded_instruction(5, 2.0)])
    first = joined.index_select(torch.tensor([0])).without_instruction_padding()
    assert first["instruction_states"].shape == (1, 2, 4)
    assert first["instruction_mask"].all()


def test_batch_sizes_must_agree():
    with pytest.raises(ValueError, match="batch size"):
        TaskState({"a": torch.zeros(1, 3), "b": torch.zeros(2, 3)})


def test_repeat_interleave_keeps_one_shared_task_unexpanded_and_repeats_mixed_rows_in_place():
    shared = encoded_instruction(3, 1.0)
    assert shared.repeat_interleave(4) is shared
    mixed = TaskState.concatenate([encoded_instruction(3, 1.0), encoded_instruction(3, 2.0)])
    repeated = mixed.repeat_interleave(2)
    assert repeated["adapter_up_bias"][:, 0, 0].tolist() == [1.0, 1.0, 2.0, 2.0]
