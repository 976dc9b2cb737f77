"""
Training cost: one optimizer step (forward with loss, backward, Adafactor step) of HINT and of
Tk-Instruct on the same SNI-shaped batch, 'Def + 2 Pos.' (`TrainingShape`: the instruction and
instance lengths of `inference.SniShape`), target 3, random ids. Every example of the batch has its
own instruction, as in a shuffled multi-task training set: HINT's hypernetwork runs on every
example (nothing to deduplicate), while Tk-Instruct reads instruction and instance concatenated.
Optimizer as the paper (§4): HF Adafactor, constant lr 1e-3, relative_step False, scale_parameter
True, warmup_init False.
"""

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import torch
from transformers.optimization import Adafactor

from benchmark.inference import SniShape, random_sequences, text_field
from benchmark.models import build_model
from benchmark.timing import Measurement, interleaved, synchronizer

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


def benchmark_training(
    checkpoint,
    device: torch.device,
    repeats: int,
    warmup: int = 1,
    shape: TrainingShape = TrainingShape(),
    settings: Sequence[str] = TRAINING_SETTINGS,
    log: Optional[Callable[[str], None]] = None,
) -> Dict[str, Measurement]:
    """Seconds per optimizer step of each setting, interleaved."""
    generator = torch.Generator().manual_seed(1)
    instructions = random_sequences(shape.batch_size, shape.instruction, generator)
    instances = random_sequences(shape.batch_size, shape.instance, generator)
    targets = random_sequences(shape.batch_size, shape.target, generator)
    inputs = {
        "hint": {
            "source_tokens": instances,
            "instruction_tokens": instructions,
            "target_tokens": targets,
        },
        "tk_instruct": {
            "source_tokens": torch.cat([instructions, instances], dim=1),
            "target_tokens": targets,
        },
    }
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
        fields = {name: text_field(ids.to(device)) for name, ids in inputs[setting].items()}
        jobs[setting] = training_step(model, fields, optimizer)
    return interleaved(jobs, repeats, warmup, synchronizer(device), log)
