"""
The `task_grouped` batch sampler: every instance once per pass, g tasks x m examples per batch,
the same batches in every run, under `allennlp train --recover` and for each of two DDP workers.
"""

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import MetadataField
from allennlp.data.samplers import BatchSampler
from allennlp.training.callbacks.callback import TrainerCallback

from hint_allennlp.data.samplers import TaskGroupedBatchSampler
from tests import FIXTURES_ROOT, SNI_FIXTURES, TINY_T5
from tests.metrics.grouped_sums_test import free_port

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


# --- Under `allennlp train --recover` --------------------------------------------------------


@TrainerCallback.register("record_batches")
class RecordBatches(TrainerCallback):
    """
    Appends each trained batch's instance ids to `batches.jsonl`; stops the run after batch
    `stop_at` (epoch, batch), set by the test (not in the config, which `--recover` compares).
    """

    stop_at = None

    def on_batch(
        self, trainer, batch_inputs, outputs, metrics, epoch, batch_number, is_training, **kwargs
    ):
        if not is_training:
            return
        with open(Path(self.serialization_dir) / "batches.jsonl", "a") as record:
            for batch in batch_inputs:
                ids = [f"{meta['task']}/{meta['id']}" for meta in batch["metadata"]]
                record.write(json.dumps([epoch, ids]) + "\n")
        if (epoch, batch_number) == self.stop_at:
            raise RuntimeError("stopped by the test")


def recorded(serialization_dir: Path):
    lines = (serialization_dir / "batches.jsonl").read_text().splitlines()
    return [tuple(json.loads(line)) for line in lines]


def test_recover_trains_on_the_batches_of_the_uninterrupted_run(tmp_path, monkeypatch):
    # The fixture experiment's 8 training tasks x 2 instances in batches of 2 tasks x 2: 4 batches
    # an epoch, 2 epochs; the interrupted run stops after epoch 1's first batch, having saved
    # epoch 0's checkpoint.
    def params():
        overrides = {
            "validation_data_path": None,
            "data_loader": {
                "batch_sampler": {
                    "type": "task_grouped",
                    "tasks_per_batch": 2,
                    "examples_per_task": 2,
                }
            },
            "trainer.num_epochs": 2,
            "trainer.callbacks": [
                {"type": "exact_resume"},
                {"type": "record_batches"},
            ],
        }
        return Params.from_file(
            str(FIXTURES_ROOT / "configs" / "hint_seq2seq.jsonnet"), json.dumps(overrides)
        )

    train_model(params(), tmp_path / "uninterrupted")
    monkeypatch.setattr(RecordBatches, "stop_at", (1, 1))
    with pytest.raises(RuntimeError, match="stopped by the test"):
        train_model(params(), tmp_path / "resumed")
    monkeypatch.setattr(RecordBatches, "stop_at", None)
    train_model(params(), tmp_path / "resumed", recover=True)

    uninterrupted = recorded(tmp_path / "uninterrupted")
    assert len(uninterrupted) == 8
    for epoch in (0, 1):
        ids = [i for e, batch in uninterrupted if e == epoch for i in batch]
        assert len(ids) == len(set(ids)) == 16
    # The resumed run: epoch 0, epoch 1's first batch, then (recovered from epoch 0's end) epoch 1.
    assert recorded(tmp_path / "resumed") == uninterrupted[:5] + uninterrupted[4:]


# --- Two DDP workers -------------------------------------------------------------------------

WORLD_SIZE = 2
READER = {
    "type": "sni",
    "tasks_dir": str(SNI_FIXTURES / "tasks"),
    "model_name": str(TINY_T5),
    "instruction_format": "hint",
    "max_instances_per_task": 4,
}
TRAIN_TASKS = str(SNI_FIXTURES / "splits" / "train_tasks.txt")


def ids_of_batches(read, sampler):
    meta = [instance["metadata"] for instance in read]
    return [
        [f"{meta[i]['task']}/{meta[i]['id']}" for i in batch]
        for batch in sampler.get_batch_indices(read)
    ]


def _worker(rank: int, port: int, output_dir: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=60),
    )
    try:
        read = list(DatasetReader.from_params(Params(dict(READER))).read(TRAIN_TASKS))
    finally:
        dist.destroy_process_group()
    sampler = TaskGroupedBatchSampler(2, 2, seed=3)
    passes = [ids_of_batches(read, sampler) for _ in range(2)]
    Path(output_dir, f"{rank}.json").write_text(json.dumps(passes))


def test_two_ddp_workers_each_group_their_share_and_see_every_instance_once(tmp_path):
    mp.start_processes(
        _worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, start_method="fork"
    )
    read = list(DatasetReader.from_params(Params(dict(READER))).read(TRAIN_TASKS))
    everything = sorted(f"{i['metadata']['task']}/{i['metadata']['id']}" for i in read)
    by_rank = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    for pass_number in range(2):
        seen = [
            i for rank in range(WORLD_SIZE) for batch in by_rank[rank][pass_number] for i in batch
        ]
        assert sorted(seen) == everything
    for rank in range(WORLD_SIZE):
        # Each worker's batches: its share (the reader's every second instance), grouped as one
        # process groups it, with the same seed.
        sampler = TaskGroupedBatchSampler(2, 2, seed=3)
        share = read[rank::WORLD_SIZE]
        assert by_rank[rank] == [ids_of_batches(share, sampler) for _ in range(2)]
        # 8 tasks x 2 instances in each share: 4 batches of 2 tasks x 2 examples.
        for batch in by_rank[rank][0]:
            assert len(batch) == 4 and len({i.split("/")[0] for i in batch}) == 2
