"""What every reader shares: field contract, late token indexers, sharding, configuration."""

import json
from collections import Counter

import pytest
import torch.distributed
from allennlp.common import Params, util
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.data.dataset_readers.dataset_reader import WorkerInfo
from allennlp.data.fields import ListField, MetadataField, TextField

from hint_allennlp.data.dataset_readers import SuperNaturalInstructionsReader
from tests import FIXTURES_ROOT, SNI_FIXTURES, TINY_T5

MODEL_NAME = str(TINY_T5)
METADATA_KEYS = {
    "task",
    "categories",
    "references",
    "instruction",
    "input",
    "source",
    "id",
    "sequence_layout",
    "tokenizer",
}

# One row per reader set-up: (registered name, extra constructor arguments, fixture read,
# whether the instances have an instruction field).
READERS = {
    "sni hint": (
        "sni",
        {"tasks_dir": str(SNI_FIXTURES / "tasks")},
        SNI_FIXTURES / "splits" / "test_tasks.txt",
        True,
    ),
    "sni tk": ("sni", {"instruction_format": "tk_instruct"}, SNI_FIXTURES / "tasks", False),
    # Tasks with and without answer choices: read as text (see the mixed-fields refusal below).
    "jsonl hint": (
        "instruction_jsonl",
        {"answer_choices": False},
        FIXTURES_ROOT / "jsonl" / "tasks.jsonl",
        True,
    ),
    "jsonl no_instruct": (
        "instruction_jsonl",
        {"instruction_format": "no_instruct", "answer_choices": False},
        FIXTURES_ROOT / "jsonl" / "tasks.jsonl",
        False,
    ),
    "jsonl choices": (
        "instruction_jsonl",
        {},
        FIXTURES_ROOT / "jsonl" / "tasks_with_choices.jsonl",
        True,
    ),
    "p3 joint": ("p3", {"answer_choices": False}, FIXTURES_ROOT / "p3" / "prompts.jsonl", True),
    "p3 prompt_only": (
        "p3",
        {"mode": "prompt_only", "answer_choices": False},
        FIXTURES_ROOT / "p3" / "prompts.jsonl",
        False,
    ),
    "p3 choices": ("p3", {}, FIXTURES_ROOT / "p3" / "test_prompts.jsonl", True),
    "pretraining": (
        "hypernetwork_pretraining",
        {"chunk_length": 16},
        FIXTURES_ROOT / "pretraining",
        True,
    ),
}


def build_reader(name: str, extra: dict) -> DatasetReader:
    """As a training config builds it: tokenizer and indexers given explicitly."""
    return DatasetReader.from_params(
        Params(
            {
                "type": name,
                "tokenizer": {"type": "pretrained_transformer", "model_name": MODEL_NAME},
                "token_indexers": {
                    "tokens": {"type": "pretrained_transformer", "model_name": MODEL_NAME}
                },
                **extra,
            }
        )
    )


def instance_key(instance):
    metadata = instance["metadata"]
    return (metadata["task"], metadata["id"], metadata["input"])


@pytest.mark.parametrize("row", READERS.values(), ids=READERS.keys())
def test_field_contract(row):
    name, extra, path, has_instruction = row
    instances = list(build_reader(name, extra).read(str(path)))
    assert instances
    for instance in instances:
        fields = instance.fields
        assert isinstance(fields["source_tokens"], TextField)
        assert ("instruction_tokens" in fields) == has_instruction
        assert isinstance(fields["metadata"], MetadataField)
        metadata = fields["metadata"].metadata
        has_choices = "answer_choices" in fields
        optional = {"answer_choices", "gold_choice", "prompt_groups", "instruction_format"}
        assert set(metadata) - optional == METADATA_KEYS
        assert ("instruction_format" in metadata) == (name in ("sni", "instruction_jsonl"))
        assert ("prompt_groups" in metadata) == (name == "p3")
        assert has_choices <= ("answer_choices" in metadata)
        assert isinstance(metadata["task"], str) and isinstance(metadata["input"], str)
        assert isinstance(metadata["categories"], list) and isinstance(metadata["references"], list)
        assert metadata["id"] is None or isinstance(metadata["id"], str)
        assert bool(metadata["instruction"]) == has_instruction
        assert ("target_tokens" in fields) == bool(metadata["references"])
        text_fields = [
            fields[n]
            for n in ("source_tokens", "instruction_tokens", "target_tokens")
            if n in fields
        ]
        if has_choices:
            assert isinstance(fields["answer_choices"], ListField)
            assert len(fields["answer_choices"].field_list) == len(metadata["answer_choices"])
            text_fields += fields["answer_choices"].field_list
        for field in text_fields:
            assert field.tokens[-1].text == "</s>"
            # read() in the main process applies the shared indexers.
            assert field.token_indexers is instances[0]["source_tokens"].token_indexers


def test_default_tokenizer_and_indexers_come_from_model_name():
    reader = SuperNaturalInstructionsReader(model_name=MODEL_NAME)
    instance = next(
        iter(reader.read(str(SNI_FIXTURES / "tasks" / "task1146_country_capital.json")))
    )
    assert set(instance["source_tokens"].token_indexers) == {"tokens"}
    with pytest.raises(ConfigurationError, match="model_name"):
        SuperNaturalInstructionsReader()


def read_as_worker(reader, path, worker_id, num_workers):
    reader._set_worker_info(WorkerInfo(num_workers, worker_id))
    try:
        return list(reader.read(str(path)))
    finally:
        reader._set_worker_info(None)


@pytest.mark.parametrize("row", READERS.values(), ids=READERS.keys())
def test_two_workers_share_the_data_without_duplicates_or_losses(row):
    name, extra, path, _ = row
    reader = build_reader(name, extra)
    everything = [instance_key(i) for i in reader.read(str(path))]
    shards = [read_as_worker(reader, path, worker_id, 2) for worker_id in range(2)]
    assert all(shards)
    for shard in shards:
        # Indexers are left to the main process (they are not pickled with every instance).
        assert all(instance["source_tokens"]._token_indexers is None for instance in shard)
    sharded = [instance_key(i) for shard in shards for i in shard]
    assert Counter(sharded) == Counter(everything)
    assert len(set(everything)) == len(everything)


def test_distributed_ranks_and_workers_partition_the_data(monkeypatch):
    reader = build_reader("sni", {})
    path = SNI_FIXTURES / "tasks"
    everything = [instance_key(i) for i in reader.read(str(path))]
    monkeypatch.setattr(util, "is_distributed", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *args: 2)
    sharded = []
    for rank in range(2):
        monkeypatch.setattr(torch.distributed, "get_rank", lambda *args, rank=rank: rank)
        for worker_id in range(2):
            shard = read_as_worker(reader, path, worker_id, 2)
            assert shard
            sharded += [instance_key(i) for i in shard]
    assert Counter(sharded) == Counter(everything)


def test_multiprocess_data_loader_with_two_workers():
    reader = build_reader("instruction_jsonl", {"answer_choices": False})
    path = str(FIXTURES_ROOT / "jsonl" / "tasks.jsonl")
    expected = Counter(instance_key(i) for i in reader.read(path))
    loader = MultiProcessDataLoader(reader, path, batch_size=4, num_workers=2)
    loaded = list(loader.iter_instances())
    assert Counter(instance_key(i) for i in loaded) == expected
    assert all(i["source_tokens"].token_indexers for i in loaded)


def test_sampled_targets_do_not_depend_on_sharding(tmp_path):
    task = json.loads((SNI_FIXTURES / "tasks" / "task1146_country_capital.json").read_text())
    task["Instances"] = [
        {"id": f"i{n}", "input": f"x{n}", "output": ["a", "b", "c", "d"]} for n in range(12)
    ]
    (tmp_path / "task_multi.json").write_text(json.dumps(task))
    reader = build_reader("sni", {"instruction_format": "no_instruct"})

    def targets(instances):
        return {
            i["metadata"]["id"]: tuple(t.text for t in i["target_tokens"].tokens) for i in instances
        }

    whole = targets(reader.read(str(tmp_path)))
    sharded = {}
    for worker_id in range(3):
        sharded.update(targets(read_as_worker(reader, tmp_path, worker_id, 3)))
    assert sharded == whole


def test_tokens_are_counted_and_kept_as_the_tokenizer_gives_them():
    # Counting goes around AllenNLP's Token objects and repeated texts are tokenized once: the
    # same counts and tokens as the tokenizer's, whatever the text.
    reader = SuperNaturalInstructionsReader(model_name=MODEL_NAME)
    texts = [
        json.loads(path.read_text())["Definition"][0] for path in (SNI_FIXTURES / "tasks").iterdir()
    ] + ["", "  two  spaces ", "ünïcödé and 12,345 numbers", "x" * 300]
    for text in texts:
        expected = reader._tokenizer.tokenize(text)
        assert reader._count_tokens(text) == len(expected)
        assert reader._tokenize(text).tokens == expected
        assert reader._tokenize(text) is reader._tokenize(text)
