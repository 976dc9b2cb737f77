"""
Measured peak memory of one training step (HINT, SNI-shaped batch of `TrainingShape`, Adafactor)
on CPU, with and without gradient checkpointing and bf16, each configuration in a fresh process.

CPU memory has no allocator counter like `torch.cuda.max_memory_allocated`, so the step is measured
by the process's resident set: glibc is told to serve every allocation above 64 KiB with its own
mmap (`MALLOC_MMAP_THRESHOLD_`), so freed tensors leave the resident set at once instead of staying
in malloc's heap; after one warm-up step (which creates Adafactor's state), the kernel's peak
counter is reset (`/proc/self/clear_refs`) and the step's peak (`VmHWM`) is read against the
resident set before it (`VmRSS`). The difference is what the step adds to weights and optimizer
state: activations, generated modules and gradients. Linux only.
"""

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import torch
from transformers.optimization import Adafactor

from benchmark.harness import ResultRow
from benchmark.inference import random_sequences, text_field
from benchmark.models import build_model
from benchmark.training import TrainingShape

CONFIGURATIONS = ((False, None), (True, None), (False, "bf16"), (True, "bf16"))
# Where `python -m benchmark training_memory` finds this folder.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class StepMemory(ResultRow):
    gradient_checkpointing: bool
    mixed_precision: Optional[str]
    before_step: int  # resident bytes: weights, optimizer state, the runtime
    step_peak: int  # resident bytes the step adds at its peak


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_in_this_process(
    checkpoint: str,
    gradient_checkpointing: bool,
    mixed_precision: Optional[str],
    shape: TrainingShape,
) -> StepMemory:
    generator = torch.Generator().manual_seed(1)
    inputs = {
        "source_tokens": text_field(random_sequences(shape.batch_size, shape.instance, generator)),
        "instruction_tokens": text_field(
            random_sequences(shape.batch_size, shape.instruction, generator)
        ),
        "target_tokens": text_field(random_sequences(shape.batch_size, shape.target, generator)),
    }
    model = build_model(
        "hint",
        checkpoint,
        gradient_checkpointing=gradient_checkpointing,
        mixed_precision=mixed_precision,
    ).train()
    optimizer = Adafactor(
        model.parameters(), lr=1e-3, relative_step=False, scale_parameter=True, warmup_init=False
    )

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(**inputs)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: Adafactor's state, lazily built parts
    before = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
    step()
    return StepMemory(
        gradient_checkpointing, mixed_precision, before, _status_bytes("VmHWM") - before
    )


def measure(
    checkpoint: Path, shape: Optional[TrainingShape] = None, threads: Optional[int] = None
) -> List[StepMemory]:
    """Every configuration, each in its own process (a fresh heap and peak)."""
    shape = shape or TrainingShape()
    results = []
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    for gradient_checkpointing, mixed_precision in CONFIGURATIONS:
        command = [
            sys.executable,
            "-m",
            "benchmark",
            "training_memory",
            str(Path(checkpoint).resolve()),
            "--batch-size",
            str(shape.batch_size),
        ]
        if gradient_checkpointing:
            command.append("--gradient-checkpointing")
        if mixed_precision:
            command += ["--mixed-precision", mixed_precision]
        if threads:
            command += ["--threads", str(threads)]
        output = subprocess.run(
            command, env=environment, cwd=PROJECT_ROOT, check=True, capture_output=True, text=True
        ).stdout
        results.append(StepMemory(**json.loads(output.strip().splitlines()[-1])))
    return results


def markdown_table(results: List[StepMemory]) -> str:
    baseline = results[0].step_peak
    lines = [
        "| checkpointing | bf16 | weights + optimizer + runtime | step's peak on top "
        "| ratio to neither |",
        "|---|---|---|---|---|",
    ]
    for row in results:
        lines.append(
            f"| {'yes' if row.gradient_checkpointing else 'no'} "
            f"| {'yes' if row.mixed_precision else 'no'} | "
            f"{row.before_step / 2**20:.0f} MiB | {row.step_peak / 2**20:.0f} MiB "
            f"| {row.step_peak / baseline:.2f} |"
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint")
    parser.add_argument("--batch-size", type=int, default=TrainingShape.batch_size)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--mixed-precision", default=None)
    parser.add_argument("--threads", type=int, default=None)


def run(args: argparse.Namespace) -> None:
    """One measured training step, its `StepMemory` printed as JSON (run by `measure`)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure_in_this_process(
        args.checkpoint,
        args.gradient_checkpointing,
        args.mixed_precision,
        TrainingShape(batch_size=args.batch_size),
    )
    print(json.dumps(result.to_json()))
