"""
Timing on a shared, noisy machine: every job is repeated, the repeats of all jobs are interleaved
(forward order, then reverse order, so that a slow drift of the machine's load hits every job
alike), and ratios are taken repeat by repeat before the median.

Two clocks: wall time (`time.perf_counter`) and this process's CPU time (`time.process_time`,
all threads). With one thread, CPU time does not count the time the process waits for a core while
other work runs, so its ratios are the steadier of the two on a busy machine; with several threads
it also counts their spinning.
"""

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Hashable, List, Optional, Sequence

import torch


@dataclass
class Measurement:
    """Seconds per repeat, by clock."""

    wall: List[float] = field(default_factory=list)
    cpu: List[float] = field(default_factory=list)

    def median(self, clock: str = "wall") -> float:
        return statistics.median(getattr(self, clock))

    def to_json(self) -> Dict[str, List[float]]:
        return {"wall": self.wall, "cpu": self.cpu}


def synchronizer(device: torch.device) -> Callable[[], None]:
    """Waits for queued GPU work, so that the clocks see it; nothing to wait for on CPU."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def interleaved(
    jobs: Dict[Hashable, Callable[[], None]],
    repeats: int,
    warmup: int = 1,
    synchronize: Callable[[], None] = lambda: None,
    log: Optional[Callable[[str], None]] = None,
) -> Dict[Hashable, Measurement]:
    """
    Runs every job `warmup` times untimed, then `repeats` rounds of every job, in the given order
    in even rounds and in reverse order in odd rounds.
    """
    for job in jobs.values():
        for _ in range(warmup):
            job()
    measurements = {key: Measurement() for key in jobs}
    order = list(jobs)
    for round_index in range(repeats):
        for key in order if round_index % 2 == 0 else reversed(order):
            synchronize()
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            jobs[key]()
            synchronize()
            measurements[key].wall.append(time.perf_counter() - wall_start)
            measurements[key].cpu.append(time.process_time() - cpu_start)
        if log is not None:
            log(f"round {round_index + 1}/{repeats} done")
    return measurements


def paired_ratio(numerator: Measurement, denominator: Measurement, clock: str = "wall") -> float:
    """Median over repeats of numerator / denominator, each pair measured in the same round."""
    pairs: Sequence = list(zip(getattr(numerator, clock), getattr(denominator, clock)))
    return statistics.median(top / bottom for top, bottom in pairs)
