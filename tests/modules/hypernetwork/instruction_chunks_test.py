import torch

from hint_allennlp.modules.hypernetwork.instruction_chunks import encode_in_chunks


def running_sums(rows_seen):
    """An encoder whose states depend on the whole sequence before each token: running sums."""

    def encode(ids, mask):
        rows_seen.append(ids.size(0))
        return torch.cumsum(ids * mask, dim=1).unsqueeze(-1).float()  # [N, c, 1]

    return encode


def test_each_chunk_is_encoded_alone_and_the_real_tokens_concatenated():
    # Two instructions: chunks [1 2] [3] and [4] [5 6], the second padded to 3 chunks.
    ids = torch.tensor([[[1, 2], [3, 0], [0, 0]], [[4, 0], [5, 6], [0, 0]]])
    mask = ids > 0
    rows_seen = []
    states, states_mask = encode_in_chunks(running_sums(rows_seen), ids, mask)
    assert states.squeeze(-1).tolist() == [[1, 3, 3], [4, 5, 11]]
    assert states_mask.all()
    assert rows_seen == [4]  # the empty padding chunks are not encoded


def test_an_unchunked_instruction_is_encoded_as_it_is():
    ids = torch.tensor([[1, 2, 3], [4, 5, 0]])
    rows_seen = []
    states, states_mask = encode_in_chunks(running_sums(rows_seen), ids, ids > 0)
    assert states.squeeze(-1).tolist() == [[1, 3, 6], [4, 9, 9]]
    assert torch.equal(states_mask, ids > 0)


def test_instructions_of_different_lengths_are_padded_on_the_right():
    ids = torch.tensor([[[1, 0], [2, 0]], [[3, 4], [5, 6]]])
    states, states_mask = encode_in_chunks(running_sums([]), ids, ids > 0)
    assert states_mask.tolist() == [[True, True, False, False], [True] * 4]
    assert states.squeeze(-1)[0, :2].tolist() == [1, 2]
