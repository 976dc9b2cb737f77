"""
Many-shot instructions (`instruction_chunking`) on a causal LM: the hypernetwork encodes each chunk
alone, and each chunk's keys and values (under the task's generated modules and prefix) are kept,
concatenated, as the prompt's first part, in evaluation and in training. An instruction of one
chunk gives what the unchunked instruction gives.
"""

import json

import pytest
import torch
from allennlp.common import Params
from allennlp.data import DatasetReader

from tests import TINY_CAUSAL_LMS
from tests.models.hint_causal_lm_test import (
    EXPERIMENT,
    build_hint,
    gradients_without_dropout,
    tensors,
)
from tests.models.instruction_causal_lm_test import read, run


def chunked_reader(family: str, **settings) -> DatasetReader:
    name = str(TINY_CAUSAL_LMS[family])
    overrides = {"dataset_reader.model_name": name, "dataset_reader.num_positive_examples": 2}
    overrides.update({f"dataset_reader.{key}": value for key, value in settings.items()})
    params = Params.from_file(str(EXPERIMENT), params_overrides=json.dumps(overrides))
    return DatasetReader.from_params(params.pop("dataset_reader"))


# Llama: rotary positions, and every chunk begins with BOS.
@pytest.mark.parametrize("family", ["llama"])
def test_one_chunk_gives_the_unchunked_instruction_and_many_chunks_train(family):
    _, model = build_hint(family)
    unchunked = read(chunked_reader(family))
    one_chunk = read(chunked_reader(family, instruction_chunking="packed"))
    assert all(i["metadata"]["instruction_chunks"] == 1 for i in one_chunk)
    expected, actual = run(model, unchunked), run(model, one_chunk)
    torch.testing.assert_close(actual["loss"], expected["loss"], atol=1e-5, rtol=1e-5)
    assert torch.equal(actual["predictions"], expected["predictions"])
    # In training the unchunked instruction is read in the prompt, the chunks' keys and values
    # precede it: the same loss and gradients.
    loss, gradients = gradients_without_dropout(model, unchunked)
    chunked_loss, chunked_gradients = gradients_without_dropout(model, one_chunk)
    torch.testing.assert_close(chunked_loss, loss, atol=1e-5, rtol=1e-5)
    assert chunked_gradients.keys() == gradients.keys()
    for name, gradient in gradients.items():
        torch.testing.assert_close(chunked_gradients[name], gradient, atol=1e-5, rtol=1e-4)
    # The definition and each example a chunk: 3 chunks, trained and predicted through.
    per_example = read(chunked_reader(family, instruction_chunking="per_example"))
    assert all(i["metadata"]["instruction_chunks"] == 3 for i in per_example)
    loss, gradients = gradients_without_dropout(model, per_example)
    assert torch.isfinite(loss)
    assert any(name.startswith("hypernetwork.generator") for name in gradients)
    model.eval()
    output = run(model, per_example)
    assert torch.isfinite(output["loss"]) and output["predictions"].size(0) == len(per_example)
    # What is kept for a task: every chunk's keys and values, its real tokens in order.
    _, kept = model.compile_instruction(tensors(per_example[:1])["instruction_tokens"])
    chunks = per_example[0]["instruction_tokens"].field_list
    assert kept["past_keys"].size(1) == sum(len(chunk) for chunk in chunks)
