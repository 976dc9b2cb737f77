"""
`fsdp: true` (the `torch_fsdp` accelerator and `sharded_adafactor`) trains what DDP trains: the real
CLI on two CPU workers (gloo), the tiny HINT experiment without dropout, against the same run under
DDP (`two_worker_ddp_run`). The FSDP run is killed in its second epoch and finished with
`--recover`, so the comparison covers resuming from the per-worker checkpoints too.
"""

import itertools
import os
import signal

import pytest
import torch
from allennlp.models.archival import load_archive
from transformers import T5ForConditionalGeneration

from hint_allennlp.parallel.torch_fsdp_accelerator import (
    LOCAL_STATE,
    SHARDED_SHAPES,
    TorchFsdpWrappedModel,
)
from tests import SNI_FIXTURES
from tests.commands.train_test import (
    DISTRIBUTED_SETTINGS,
    epoch_losses,
    final_weights,
    optimizer_step_counts,
    start_training,
    succeed,
    train,
    wait_for_log,
    write_experiment,
)

# Several processes on the default port: the distributed tests run one after another, on one
# test process (`pytest -n 2 --dist loadgroup`, the Makefile's test).
pytestmark = pytest.mark.xdist_group("distributed")


def fsdp_settings(checkpoint, devices="[-1, -1]") -> str:
    return (
        f"{{model_name: '{checkpoint}', cuda_devices: {devices}, fsdp: true}} "
        f"+ {DISTRIBUTED_SETTINGS}"
    )


@pytest.fixture(scope="module")
def recovered_fsdp_run(tmp_path_factory, tiny_t5_without_dropout):
    """
    (serialization directory, output of the `--recover` run) of the FSDP run,
    killed in its second epoch.
    """
    directory = tmp_path_factory.mktemp("fsdp")
    experiment = write_experiment(
        directory / "experiment.jsonnet", fsdp_settings(tiny_t5_without_dropout)
    )
    serialization_dir, output = directory / "run", directory / "output.txt"
    # In its own process group, so that the kill reaches the workers too.
    first_run = start_training(experiment, serialization_dir, output, start_new_session=True)
    # Logged once the first epoch's checkpoints are written by both workers.
    wait_for_log(first_run, serialization_dir / "out_worker0.log", "Epoch 1/1", output)
    os.killpg(first_run.pid, signal.SIGKILL)
    first_run.wait()
    assert not (serialization_dir / "metrics_epoch_1.json").exists(), (
        "the run ended before it was killed"
    )
    recovered_output = succeed(
        start_training(experiment, serialization_dir, output, "--recover"), output
    )
    return serialization_dir, recovered_output


@pytest.mark.slow
def test_fsdp_trains_the_losses_and_weights_ddp_trains(
    recovered_fsdp_run, two_worker_ddp_run, tiny_t5_without_dropout
):
    serialization_dir, _ = recovered_fsdp_run
    # One loss per epoch of 3 steps; the first epoch before the kill, the second after --recover.
    torch.testing.assert_close(
        epoch_losses(serialization_dir), epoch_losses(two_worker_ddp_run), atol=1e-5, rtol=0
    )
    weights, expected = final_weights(serialization_dir), final_weights(two_worker_ddp_run)
    assert weights.keys() == expected.keys()
    for name, tensor in weights.items():
        assert not isinstance(tensor, torch.distributed.tensor.DTensor), name
        torch.testing.assert_close(tensor, expected[name], atol=1e-5, rtol=0, msg=name)
    # Training moved the weights: the comparison is not between two untrained models.
    checkpoint = T5ForConditionalGeneration.from_pretrained(tiny_t5_without_dropout).state_dict()
    assert (
        max((weights[f"t5.{name}"] - tensor).abs().max() for name, tensor in checkpoint.items())
        > 1e-3
    )


@pytest.mark.slow
def test_fsdp_checkpoints_are_per_worker_shards_and_recover_resumes_from_them(recovered_fsdp_run):
    serialization_dir, recovered_output = recovered_fsdp_run
    # Only the second epoch was trained after --recover, from the first epoch's checkpoints (the
    # first epoch's data is replayed without training, to keep the data order).
    assert recovered_output.count("Epoch duration") == 1
    shards = [
        torch.load(serialization_dir / f"model_state_e2_b0_w{rank}.th", weights_only=False)
        for rank in (0, 1)
    ]
    name, shape = next(
        (name, shape) for name, shape in shards[0][SHARDED_SHAPES].items() if shape[0] > 1
    )
    # Each worker holds its part of a sharded weight, not all of it.
    assert [shard[LOCAL_STATE][name].size(0) for shard in shards] != [shape[0], shape[0]]
    assert sum(shard[LOCAL_STATE][name].size(0) for shard in shards) == shape[0]
    consolidated = TorchFsdpWrappedModel.consolidate_sharded_state(
        [serialization_dir / f"model_state_e2_b0_w{rank}.th" for rank in (1, 0)]
    )
    for key, tensor in final_weights(serialization_dir).items():
        assert torch.equal(consolidated[key], tensor), key
    # Adafactor's step count continued from the checkpoint: 6 steps in all, in each worker's state.
    for rank in (0, 1):
        assert optimizer_step_counts(serialization_dir, epochs_completed=2, worker=rank) == {6}


@pytest.mark.slow
def test_fsdp_archive_loads_in_one_process_and_predicts_what_the_ddp_archive_predicts(
    recovered_fsdp_run, two_worker_ddp_run
):
    serialization_dir, _ = recovered_fsdp_run
    predictions = []
    for archive_file in (serialization_dir / "model.tar.gz", two_worker_ddp_run / "model.tar.gz"):
        archive = load_archive(archive_file)  # no process group here
        archive.model.eval()
        instances = list(
            itertools.islice(
                archive.validation_dataset_reader.read(SNI_FIXTURES / "splits" / "test_tasks.txt"),
                6,
            )
        )
        outputs = archive.model.forward_on_instances(instances)
        predictions.append([output["predictions"].tolist() for output in outputs])
    assert predictions[0] == predictions[1]


@pytest.mark.cuda
@pytest.mark.skipif(
    torch.cuda.device_count() < 2, reason="needs two or more CUDA GPUs (one NCCL worker each)"
)
def test_fsdp_trains_what_ddp_trains_on_every_gpu(tmp_path, tiny_t5_without_dropout):
    """
    The FSDP / DDP comparison above on every visible GPU, with NCCL:
    `pytest -m cuda tests/parallel`.
    """
    devices = list(range(torch.cuda.device_count()))
    one_example_per_gpu = (
        f"{{examples_per_step: {2 * len(devices)}}}"  # 2 accumulated batches of 1 per GPU
    )
    runs = {}
    for name, settings in [
        (
            "ddp",
            f"{{model_name: '{tiny_t5_without_dropout}', cuda_devices: {devices}}} "
            f"+ {DISTRIBUTED_SETTINGS}",
        ),
        ("fsdp", fsdp_settings(tiny_t5_without_dropout, devices)),
    ]:
        (tmp_path / name).mkdir()
        runs[name] = train(tmp_path / name, f"{settings} + {one_example_per_gpu}")
    torch.testing.assert_close(
        epoch_losses(runs["fsdp"]), epoch_losses(runs["ddp"]), atol=1e-5, rtol=0
    )
    expected = final_weights(runs["ddp"])
    for name, tensor in final_weights(runs["fsdp"]).items():
        torch.testing.assert_close(tensor, expected[name], atol=1e-5, rtol=0, msg=name)
