"""
Does the instruction really flow through the generated parameters?

A synthetic suite asks four questions of the same inputs: each input lists an animal, a colour, a
food and a vehicle in random order, and each instruction asks for one of them ("Give the colour in
the list."). HINT without instruction fusion can only tell the tasks apart
through the adapters and prefixes its hypernetwork generates, so if it learns the suite the
instruction reaches the T5 through them. No-Instruct, trained the same way, can only guess.
"""

import random

import pytest
import torch
from allennlp.common import Lazy
from allennlp.data import Batch, Vocabulary
from allennlp.data.token_indexers import PretrainedTransformerIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer

from hint_allennlp.data.dataset_readers.sni import SuperNaturalInstructionsReader
from hint_allennlp.models import HintSeq2Seq
from hint_allennlp.modules.hypernetwork.parameter_generators import ParameterGenerator
from hint_allennlp.modules.inserted.inserted_modules_config import InsertedModulesConfig
from tests import TINY_T5

# Every test here trains, runs an AllenNLP command or starts processes.
pytestmark = pytest.mark.slow

CATEGORIES = {
    "animal": "cat dog fish bird horse cow".split(),
    "colour": "red blue green black white pink".split(),
    "food": "bread milk rice cake apple soup".split(),
    "vehicle": "car bus ship train bike boat".split(),
}
# The same inputs, four instructions: each picks the word of one category out of the input.
TASKS = {f"Give the {category} in the list.": category for category in CATEGORIES}


def synthetic_suite(train_size: int = 2000, held_out_size: int = 50, seed: int = 0):
    """
    (instruction, input, output) triples; the inputs of train and held-out examples are disjoint.
    """
    rng = random.Random(seed)
    inputs = set()
    while len(inputs) < train_size + held_out_size:
        words = [rng.choice(words) for words in CATEGORIES.values()]
        rng.shuffle(words)
        inputs.add(tuple(words))
    inputs = sorted(inputs)
    rng.shuffle(inputs)

    def examples(word_lists, per_input):
        chosen = []
        for words in word_lists:
            for instruction, category in rng.sample(sorted(TASKS.items()), per_input):
                answer = next(word for word in words if word in CATEGORIES[category])
                chosen.append((instruction, " ".join(words), answer))
        return chosen

    # Every held-out input is asked all four questions.
    return examples(inputs[:train_size], 1), examples(inputs[train_size:], len(TASKS))


def make_reader(instruction_format: str) -> SuperNaturalInstructionsReader:
    return SuperNaturalInstructionsReader(
        instruction_format=instruction_format,
        num_positive_examples=0,
        tokenizer=PretrainedTransformerTokenizer(str(TINY_T5)),
        token_indexers={"tokens": PretrainedTransformerIndexer(str(TINY_T5))},
    )


def tensors(reader, examples, vocab):
    instances = [
        reader.text_to_instance(instruction, input_, [output])
        for instruction, input_, output in examples
    ]
    for instance in instances:
        reader.apply_token_indexers(instance)
    batch = Batch(instances)
    batch.index_instances(vocab)
    return batch.as_tensor_dict()


def select(tensor_dict, indices):
    """The examples `indices` of a padded tensor dict (padding stays as long as the longest)."""
    if isinstance(tensor_dict, dict):
        return {key: select(value, indices) for key, value in tensor_dict.items()}
    if isinstance(tensor_dict, list):
        return [tensor_dict[index] for index in indices]
    return tensor_dict[indices]


def train_and_evaluate(model: HintSeq2Seq, reader, steps: int, seed: int = 0) -> float:
    """Trains on the synthetic suite; returns exact match (%) on the held-out inputs."""
    train, held_out = synthetic_suite()
    vocab = Vocabulary()
    train_tensors, held_out_tensors = (
        tensors(reader, train, vocab),
        tensors(reader, held_out, vocab),
    )
    rng = random.Random(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        loss = model(**select(train_tensors, rng.sample(range(len(train)), 64)))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(**held_out_tensors)["predicted_text"]
    return (
        100.0
        * sum(p.strip() == output for p, (_, _, output) in zip(predicted, held_out))
        / len(held_out)
    )


def new_model(**settings) -> HintSeq2Seq:
    torch.manual_seed(0)
    return HintSeq2Seq(Vocabulary(), str(TINY_T5), max_decoding_steps=8, **settings)


def test_hint_without_fusion_learns_instructions_that_no_instruct_cannot():
    steps = 200
    hint = new_model(
        parameter_generator=Lazy(ParameterGenerator.by_name("cross_attention")),
        peft=InsertedModulesConfig(adapter_size=8, prefix_length=4),
        instruction_fusion=False,
    )
    hint_exact_match = train_and_evaluate(hint, make_reader("hint"), steps)
    no_instruct_exact_match = train_and_evaluate(
        new_model(parameter_generator=None, instruction_fusion=False),
        make_reader("no_instruct"),
        steps,
    )
    print(
        f"held-out exact match: HINT - fusion {hint_exact_match:.1f}, "
        f"No-Instruct {no_instruct_exact_match:.1f}"
    )
    assert hint_exact_match >= 90.0
    # Without the instruction the best policy is right on one question in four.
    assert no_instruct_exact_match <= 35.0
