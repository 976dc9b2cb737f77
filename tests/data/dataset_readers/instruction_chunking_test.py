"""
Many-shot instructions (`instruction_chunking`): the chunks the readers give, the demonstrations
the SNI reader draws beyond a task's positive examples, and what the model makes of the chunks.
"""

import logging

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch

from tests.data.dataset_readers.sni_test import (
    COUNTRY_CAPITAL,
    COUNTRY_CAPITAL_DEFINITION_AND_POSITIVES,
    make_reader,
    token_texts,
)
from tests.models.hint_seq2seq_test import _fixture_model

# The fixture task has 2 positive examples and 20 instances (distinct inputs, each with an output).
POSITIVES, INSTANCES = 2, 20


def read(**kwargs):
    reader = make_reader(instruction_format="hint", **kwargs)
    return reader, list(reader.read(str(COUNTRY_CAPITAL)))


def chunk_texts(instance):
    return ["".join(token_texts(chunk)) for chunk in instance["instruction_tokens"].field_list]


def test_an_instruction_that_fits_is_one_chunk_of_the_unchunked_tokens():
    _, [unchunked, *_] = read(num_positive_examples=2)
    _, [chunked, *_] = read(num_positive_examples=2, instruction_chunking="packed")
    [chunk] = chunked["instruction_tokens"].field_list
    assert token_texts(chunk) == token_texts(unchunked["instruction_tokens"])
    assert chunked["metadata"]["instruction"] == COUNTRY_CAPITAL_DEFINITION_AND_POSITIVES
    assert chunked["metadata"]["instruction_chunks"] == 1


def test_per_example_chunks_and_packed_chunks_within_the_window():
    _, [per_example, *_] = read(num_positive_examples=2, instruction_chunking="per_example")
    texts = chunk_texts(per_example)
    assert len(texts) == 3 and texts[0].startswith("▁Definition")
    assert "United" in texts[1] and "India" in texts[2]
    # A window of 40 tokens: the definition alone, then the examples packed, none left out.
    _, [packed, *_] = read(
        num_positive_examples=8, instruction_chunking="packed", max_instruction_tokens=40
    )
    lengths = [len(chunk) for chunk in packed["instruction_tokens"].field_list]
    assert len(lengths) > 2 and max(lengths) <= 40
    assert packed["metadata"]["instruction"].count("Positive Example") == 8


def test_examples_beyond_the_positive_ones_are_drawn_reproducibly_never_the_instance_itself():
    _, first = read(num_positive_examples=8, instruction_chunking="per_example")
    _, again = read(num_positive_examples=8, instruction_chunking="per_example")
    assert [i["metadata"]["instruction"] for i in first] == [
        i["metadata"]["instruction"] for i in again
    ]
    instructions = set()
    for instance in first:
        instruction = instance["metadata"]["instruction"]
        assert instruction.count("Positive Example") == 8
        # The instance's own input is never among its examples.
        assert f"Input: {instance['metadata']['input'].strip()}" not in instruction
        instructions.add(instruction)
    # The same examples for the task's instances, except those drawn as examples (6 of them):
    # each of those gets the next one in the order instead.
    assert 2 <= len(instructions) <= 1 + 6
    _, other_seed = read(num_positive_examples=8, instruction_chunking="per_example", seed=1)
    assert other_seed[0]["metadata"]["instruction"] != first[0]["metadata"]["instruction"]


def test_fewer_examples_than_asked_are_counted_with_the_reason(caplog):
    with caplog.at_level(logging.WARNING):
        _, instances = read(num_positive_examples=32, instruction_chunking="per_example")
    assert all(
        i["metadata"]["instruction"].count("Positive Example") == POSITIVES + INSTANCES - 1
        for i in instances
    )
    assert (
        "instructions with fewer than num_positive_examples=32 examples: the task has 2 positive "
        f"examples and {INSTANCES - 1} other instances"
    ) in caplog.text


def test_chunking_is_refused_outside_the_hint_format():
    with pytest.raises(ConfigurationError, match="instruction_chunking must be null or one of"):
        make_reader(instruction_format="tk_instruct", instruction_chunking="packed")
    with pytest.raises(ConfigurationError, match="instruction_chunking must be null or one of"):
        make_reader(instruction_format="hint", instruction_chunking="chunked")


@pytest.mark.slow
def test_the_model_encodes_one_chunk_as_the_unchunked_instruction_and_trains_on_many():
    model = _fixture_model().eval()
    reader, unchunked = read(num_positive_examples=2)
    _, chunked = read(num_positive_examples=2, instruction_chunking="packed")
    _, many = read(num_positive_examples=8, instruction_chunking="per_example")

    def tensors(instances):
        batch = Batch(instances[:3])
        batch.index_instances(model.vocab)
        for instance in instances[:3]:
            reader.apply_token_indexers(instance)
        return batch.as_tensor_dict()

    with torch.no_grad():
        expected = model.task_state(tensors(unchunked)["instruction_tokens"])
        actual = model.task_state(tensors(chunked)["instruction_tokens"])
    assert expected.tensors.keys() == actual.tensors.keys()
    for key in expected.tensors:
        assert torch.equal(expected[key], actual[key]), key
    # Nine chunks an instruction, in training: a finite loss and gradients for the generator.
    model.train()
    loss = model(**tensors(many))["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0
        for p in model.hypernetwork.generator.parameters()
    )
