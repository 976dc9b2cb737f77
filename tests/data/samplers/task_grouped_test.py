"""
The `task_grouped` batch sampler: every instance once per pass, g tasks x m examples per batch,
the same batches in every run; two DDP workers training on their shards' batches, which
`allennlp train --recover` reproduces.
"""

import json
from collections import Counter
from pathlib import Path

import pytest
import torch.multiprocessing as mp
from allennlp.commands import train as train_command
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import MetadataField
from allennlp.data.samplers import BatchSampler
from allennlp.training.callbacks.callback import TrainerCallback

from hint_allennlp.data.samplers import TaskGroupedBatchSampler
from tests import FIXTURES_ROOT, SNI_FIXTURES

# Several processes on the default port: the distributed tests run one after another, on one
# test process.
pytestmark = pytest.mark.xdist_group("distributed")

# Tasks of unequal sizes: 10, 7, 4, 1 and 3 instances.
TASK_SIZES = {"a": 10, "b": 7, "c": 4, "d": 1, "e": 3}


def instances(task_sizes=TASK_SIZES):
    """Instances of `task_sizes`' tasks, interleaved as a file of mixed tasks could have them."""
    named = [(task, number) for task, size in task_sizes.items() for number in range(size)]
    named.sort(key=lambda pair: pair[1])
    return [
        Instance({"metadata": MetadataField({"task": task, "id": number})})
        for task, number in named
    ]


def tasks_of(batch, read):
    return [read[index]["metadata"]["task"] for index in batch]


def test_every_instance_is_in_one_batch_of_g_tasks_by_m_examples_per_pass():
    read = instances()
    sampler = BatchSampler.from_params(
        Params({"type": "task_grouped", "tasks_per_batch": 2, "examples_per_task": 3})
    )
    for _ in range(3):  # three passes, each shuffled anew
        batches = sampler.get_batch_indices(read)
        assert sorted(index for batch in batches for index in batch) == list(range(len(read)))
        assert len(batches) == sampler.get_num_batches(read)
        # Whole chunks: a 3, b 2, c 1, e 1 (21 instances); leftovers a 1, b 1, c 1, d 1 (4) make
        # two chunks of mixed tasks, 3 + 1: 9 chunks in 5 batches, every batch but the last full.
        assert len(batches) == 5
        assert [len(batch) for batch in batches[:-1]] == [6] * 4
        whole_task_chunks = 0
        for batch in batches:
            counts = Counter(tasks_of(batch, read))
            whole_task_chunks += sum(count // 3 for count in counts.values())
        assert whole_task_chunks == 7
    assert sampler.get_batch_size() == 6


def test_the_batches_are_seeded_and_differ_between_passes():
    read = instances()
    first, second = (TaskGroupedBatchSampler(2, 3, seed=5) for _ in range(2))
    passes = [first.get_batch_indices(read) for _ in range(2)]
    assert passes == [second.get_batch_indices(read) for _ in range(2)]
    assert passes[0] != passes[1]
    assert TaskGroupedBatchSampler(2, 3, seed=6).get_batch_indices(read) != passes[0]


def test_a_batch_holds_distinct_tasks_while_there_are_any():
    # 8 tasks of 4 in batches of 4 tasks x 2 examples: every batch but the last has 4 distinct
    # tasks (the chunk of a task already in a batch waits for the next one; the last batch takes
    # what is left).
    read = instances({task: 4 for task in "abcdefgh"})
    for seed in range(20):
        batches = TaskGroupedBatchSampler(4, 2, seed=seed).get_batch_indices(read)
        assert [len(set(tasks_of(batch, read))) for batch in batches[:-1]] == [4, 4, 4]


def test_instances_without_a_task_are_refused():
    with pytest.raises(ConfigurationError, match="instance 0 has no `task`"):
        TaskGroupedBatchSampler(2, 2).get_batch_indices([Instance({})])
    with pytest.raises(ConfigurationError, match="must be positive"):
        TaskGroupedBatchSampler(0, 2)


# --- Two DDP workers training, and `allennlp train --recover` --------------------------------


@TrainerCallback.register("record_batches")
class RecordBatches(TrainerCallback):
    """
    Appends each trained batch's instance ids to `batches_<worker>.jsonl`; stops the run after
    batch `stop_at` (epoch, batch), set by the test (not in the config, which `--recover`
    compares).
    """

    stop_at = None

    def on_batch(
        self, trainer, batch_inputs, outputs, metrics, epoch, batch_number, is_training, **kwargs
    ):
        if not is_training:
            return
        path = Path(self.serialization_dir) / f"batches_{trainer._rank}.jsonl"
        with open(path, "a") as record:
            for batch in batch_inputs:
                ids = [f"{meta['task']}/{meta['id']}" for meta in batch["metadata"]]
                record.write(json.dumps([epoch, ids]) + "\n")
        if (epoch, batch_number) == self.stop_at:
            raise RuntimeError("stopped by the test")


WORLD_SIZE = 2
# The fixture experiment's 8 training tasks x 4 instances, in batches of 2 tasks x 2 examples.
GROUPED = {"type": "task_grouped", "tasks_per_batch": 2, "examples_per_task": 2, "seed": 3}
TRAIN_TASKS = str(SNI_FIXTURES / "splits" / "train_tasks.txt")


def recorded(serialization_dir: Path, rank: int):
    lines = (serialization_dir / f"batches_{rank}.jsonl").read_text().splitlines()
    return [tuple(json.loads(line)) for line in lines]


def ids_of_batches(read, sampler):
    meta = [instance["metadata"] for instance in read]
    return [
        [f"{meta[i]['task']}/{meta[i]['id']}" for i in batch]
        for batch in sampler.get_batch_indices(read)
    ]


def forked(function, args, nprocs, **kwargs):
    """AllenNLP's `mp.spawn` of the workers, forked: they inherit the imported modules."""
    mp.start_processes(function, args=args, nprocs=nprocs, start_method="fork")


@pytest.mark.slow
def test_two_ddp_workers_train_on_disjoint_planned_shards_and_recover_their_batches(
    tmp_path, monkeypatch
):
    """
    AllenNLP's distributed training (`train_model`, 2 CPU workers on gloo), 2 epochs of 4
    batches a worker, stopped after epoch 1's first batch and resumed with `--recover`: each
    worker trains on the sampler's plan for its shard (the reader's every second instance), the
    shards are disjoint and together every instance once an epoch, and the resumed epoch trains
    on the batches of the uninterrupted run.
    """
    monkeypatch.setattr(train_command.mp, "spawn", forked)

    def params():
        overrides = {
            "validation_data_path": None,
            "datasets_for_vocab_creation": ["train"],
            "dataset_reader.max_instances_per_task": 4,
            "data_loader": {"batch_sampler": dict(GROUPED)},
            "distributed": {"cuda_devices": [-1, -1]},
            "trainer.num_epochs": 2,
            "trainer.callbacks": [{"type": "exact_resume"}, {"type": "record_batches"}],
        }
        return Params.from_file(
            str(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"), json.dumps(overrides)
        )

    monkeypatch.setattr(RecordBatches, "stop_at", (1, 1))
    with pytest.raises(Exception, match="stopped by the test"):
        train_model(params(), tmp_path / "run")
    monkeypatch.setattr(RecordBatches, "stop_at", None)
    train_model(params(), tmp_path / "run", recover=True)

    read = list(DatasetReader.from_params(params().pop("dataset_reader")).read(TRAIN_TASKS))
    everything = sorted(f"{i['metadata']['task']}/{i['metadata']['id']}" for i in read)
    assert len(everything) == 32
    plans = []
    for rank in range(WORLD_SIZE):
        # The sampler's plan for the worker's shard, pass by pass: 4 batches of 2 tasks x 2.
        sampler = BatchSampler.from_params(Params(dict(GROUPED)))
        plan = [ids_of_batches(read[rank::WORLD_SIZE], sampler) for _ in range(2)]
        assert all(len(ids) == 4 and len({i.split("/")[0] for i in ids}) == 2 for ids in plan[0])
        plans.append(plan)
        # Trained: epoch 0, epoch 1's first batch (then stopped), and, recovered from epoch 0's
        # checkpoint, epoch 1 again, on the batches of the uninterrupted run.
        trained = [(0, ids) for ids in plan[0]] + [(1, ids) for ids in plan[1][:1] + plan[1]]
        assert recorded(tmp_path / "run", rank) == trained
    for epoch in (0, 1):
        seen = [i for plan in plans for ids in plan[epoch] for i in ids]
        assert sorted(seen) == everything  # the shards disjoint, every instance once
