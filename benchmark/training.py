"""
Training cost: one optimizer step (forward with loss, backward, Adafactor step) of HINT and of
Tk-Instruct on the same SNI-shaped batch, 'Def + 2 Pos.' (`TrainingShape`: the instruction and
instance lengths of `inference.SniShape`), target 3, random ids. By default every example of the
batch has its own instruction, as in a shuffled multi-task training set: HINT's hypernetwork runs
on every example (nothing to deduplicate), while Tk-Instruct reads instruction and instance
concatenated. With `tasks_per_batch` the same models are also timed on batches of g tasks ×
batch_size / g examples each, as the `task_grouped` batch sampler makes them (the hypernetwork
runs g times per step), in the same interleaved rounds; `training_step_flops` gives the analytic
FLOPs of each (`hint_allennlp.cost.flops.training_flops`). Optimizer as the paper (§4): HF
Adafactor, constant lr 1e-3, relative_step False, scale_parameter True, warmup_init False.
"""

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import torch
from transformers.optimization import Adafactor

from benchmark.inference import SniShape, random_sequences, text_field
from benchmark.models import build_model
from benchmark.timing import Measurement, interleaved, synchronizer
from hint_allennlp.cost.flops import TaskLengths, training_flops

TRAINING_SETTINGS = ("hint", "tk_instruct")


@dataclass(frozen=True)
class TrainingShape:
    """A batch of SNI median lengths ('Def + 2 Pos.'), each example its own task."""

    instruction: int = SniShape.definition_two_positives
    instance: int = SniShape.instance
    target: int = 3
    batch_size: int = 16

    @classmethod
    def of_sni(cls, shape: SniShape, batch_size: int) -> "TrainingShape":
        """A batch of `batch_size` with `shape`'s 'Def + 2 Pos.' instruction and its instance."""
        return cls(
            instruction=shape.definition_two_positives,
            instance=shape.instance,
            batch_size=batch_size,
        )


def training_step(model, inputs: Dict, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(**inputs)["loss"].backward()
        optimizer.step()

    return step


def job_key(setting: str, tasks: Optional[int] = None) -> str:
    """`setting` on mixed batches (one task per example), or on batches of `tasks` tasks."""
    return setting if tasks is None else f"{setting}, {tasks} tasks per batch"


def benchmark_training(
    checkpoint,
    device: torch.device,
    repeats: int,
    warmup: int = 1,
    shape: TrainingShape = TrainingShape(),
    settings: Sequence[str] = TRAINING_SETTINGS,
    log: Optional[Callable[[str], None]] = None,
    tasks_per_batch: Sequence[int] = (),
) -> Dict[str, Measurement]:
    """
    Seconds per optimizer step of each setting (`job_key`), on mixed batches and on batches of
    each of `tasks_per_batch` tasks, interleaved.
    """
    for tasks in tasks_per_batch:
        if shape.batch_size % tasks:
            raise ValueError(f"batch size {shape.batch_size} is not a multiple of {tasks} tasks")
    generator = torch.Generator().manual_seed(1)
    distinct = random_sequences(shape.batch_size, shape.instruction, generator)
    instances = random_sequences(shape.batch_size, shape.instance, generator)
    targets = random_sequences(shape.batch_size, shape.target, generator)
    jobs = {}
    for setting in settings:
        model = build_model(setting, checkpoint).to(device).train()
        optimizer = Adafactor(
            model.parameters(),
            lr=1e-3,
            relative_step=False,
            scale_parameter=True,
            warmup_init=False,
        )
        for tasks in [None, *tasks_per_batch]:
            # The first `tasks` instructions, each given to batch_size / tasks examples: [B, t]
            instructions = (
                distinct
                if tasks is None
                else distinct[:tasks].repeat_interleave(shape.batch_size // tasks, dim=0)
            )
            inputs = (
                {"source_tokens": instances, "instruction_tokens": instructions}
                if setting == "hint"
                else {"source_tokens": torch.cat([instructions, instances], dim=1)}
            )
            fields = {
                name: text_field(ids.to(device))
                for name, ids in {**inputs, "target_tokens": targets}.items()
            }
            jobs[job_key(setting, tasks)] = training_step(model, fields, optimizer)
    return interleaved(jobs, repeats, warmup, synchronizer(device), log)


def training_step_flops(
    checkpoint, shape: TrainingShape, tasks_per_batch: Sequence[int] = ()
) -> Dict[str, float]:
    """Analytic FLOPs of one training step of each `job_key` that `benchmark_training` times."""
    flops = {}
    for setting in TRAINING_SETTINGS:
        model = build_model(setting, checkpoint)
        for tasks in [None, *tasks_per_batch]:
            task_count = shape.batch_size if tasks is None else tasks
            lengths = TaskLengths(
                instruction=shape.instruction,
                instance=shape.instance,
                output=shape.target,
                examples=shape.batch_size / task_count,
            )
            flops[job_key(setting, tasks)] = training_flops(
                model.instruction_handling, model.parameter_counts, lengths, task_count
            )
    return flops
