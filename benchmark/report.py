"""
Markdown tables, the targets (speed ratios HINT is to reach against Tk-Instruct, the floor and its
own zero-shot cost), and the paper's Figure 4 (time against shots).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from benchmark.inference import InferenceRow
from benchmark.memory import MemoryRow
from benchmark.models import BENCHMARK_MODELS
from benchmark.timing import Measurement, paired_ratio
from benchmark.training import TRAINING_SETTINGS, job_key

GIGA = 1e9
SETTINGS_ORDER = ("tk_instruct", "hint", "hint_without_fusion", "hint_cached", "floor")
MEBI = 2**20


@dataclass(frozen=True)
class Target:
    """
    A measured ratio against its bound: `ratio >= bound` or `ratio <= bound`, judged on wall time.
    `name` says what is measured and where (model shape, device).
    """

    name: str
    wall: float
    cpu: float
    comparison: str  # ">=" or "<="
    bound: float
    binding: bool = True  # False: the same ratio on a model or device the target is not set for

    @property
    def met(self) -> bool:
        return self.wall >= self.bound if self.comparison == ">=" else self.wall <= self.bound

    @property
    def verdict(self) -> str:
        if not self.binding:
            return "for reference"
        return "met" if self.met else "MISSED"

    def line(self) -> str:
        target = f"target {self.comparison} {self.bound}"
        return f"{self.name}: {self.wall:.2f} (CPU time {self.cpu:.2f}), {target}: {self.verdict}"

    def to_json(self) -> Dict:
        return {
            "name": self.name,
            "wall": self.wall,
            "cpu": self.cpu,
            "target": f"{self.comparison} {self.bound}",
            "binding": self.binding,
            "met": self.met,
        }


def _by_key(rows: Sequence[InferenceRow]) -> Dict:
    return {(row.setting, row.shots): row for row in rows}


def inference_targets(
    rows: Sequence[InferenceRow], scope: str, binding: bool, main_shots: int = 2
) -> List[Target]:
    """
    HINT ≥ 5× faster than Tk-Instruct, within 1.15× of the floor (Def + 2 Pos.); 5 shots within
    1.10× of 0. `scope` (model shape and device) starts each name; `binding`: whether the targets
    are set for it.
    """
    rows_by = _by_key(rows)
    targets = []

    def ratio(name, top, bottom, comparison, bound):
        if top in rows_by and bottom in rows_by:
            a, b = rows_by[top].measurement, rows_by[bottom].measurement
            targets.append(
                Target(
                    f"{scope}: {name}",
                    paired_ratio(a, b),
                    paired_ratio(a, b, "cpu"),
                    comparison,
                    bound,
                    binding,
                )
            )

    ratio(
        f"Tk-Instruct / HINT time, {main_shots} shots",
        ("tk_instruct", main_shots),
        ("hint", main_shots),
        ">=",
        5.0,
    )
    ratio(
        f"HINT / floor time, {main_shots} shots",
        ("hint", main_shots),
        ("floor", main_shots),
        "<=",
        1.15,
    )
    ratio("HINT time, 5 shots / 0 shots", ("hint", 5), ("hint", 0), "<=", 1.10)
    return targets


def training_target(measurements: Dict[str, Measurement], scope: str, binding: bool) -> Target:
    """HINT's training step within 1.2× of Tk-Instruct's."""
    hint, tk_instruct = measurements["hint"], measurements["tk_instruct"]
    wall, cpu = paired_ratio(hint, tk_instruct), paired_ratio(hint, tk_instruct, "cpu")
    return Target(f"{scope}: HINT / Tk-Instruct training step", wall, cpu, "<=", 1.2, binding)


def targets_table(targets: Sequence[Target]) -> str:
    lines = ["| ratio | wall time | CPU time | target | |", "|---|---|---|---|---|"]
    for target in targets:
        verdict = "**MISSED**" if target.verdict == "MISSED" else target.verdict
        lines.append(
            f"| {target.name} | {target.wall:.2f} | {target.cpu:.2f} "
            f"| {target.comparison} {target.bound} | {verdict} |"
        )
    return "\n".join(lines)


def _ratio_cell(rows_by, top, bottom) -> str:
    if top not in rows_by or bottom not in rows_by:
        return "–"
    a, b = rows_by[top].measurement, rows_by[bottom].measurement
    return f"{paired_ratio(a, b):.2f} ({paired_ratio(a, b, 'cpu'):.2f})"


def inference_table(rows: Sequence[InferenceRow]) -> str:
    """Median seconds per task (wall; CPU time in parentheses) and paired ratios."""
    rows_by = _by_key(rows)
    shots = sorted({row.shots for row in rows})
    settings = [
        setting for setting in SETTINGS_ORDER if any(row.setting == setting for row in rows)
    ]
    header = ["shots", "t"] + [f"{BENCHMARK_MODELS[setting].label} s" for setting in settings]
    header += ["Tk-Instruct / HINT", "HINT / floor", "HINT / HINT at 0 shots"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for count in shots:
        length = next(row.instruction_length for row in rows if row.shots == count)
        cells = [str(count), str(length)]
        for setting in settings:
            if (setting, count) not in rows_by:  # Tk-Instruct past its window
                cells.append("–")
                continue
            measurement = rows_by[(setting, count)].measurement
            cells.append(f"{measurement.median():.2f} ({measurement.median('cpu'):.2f})")
        cells.append(_ratio_cell(rows_by, ("tk_instruct", count), ("hint", count)))
        cells.append(_ratio_cell(rows_by, ("hint", count), ("floor", count)))
        cells.append(_ratio_cell(rows_by, ("hint", count), ("hint", min(shots))))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def flops_table(rows: Sequence[InferenceRow]) -> str:
    rows_by = _by_key(rows)
    shots = sorted({row.shots for row in rows})
    settings = [
        setting for setting in SETTINGS_ORDER if any(row.setting == setting for row in rows)
    ]
    header = ["shots", "t"] + [f"{BENCHMARK_MODELS[setting].label} GFLOPs" for setting in settings]
    header += ["Tk-Instruct / HINT"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for count in shots:
        length = next(row.instruction_length for row in rows if row.shots == count)
        cells = [str(count), str(length)] + [
            f"{rows_by[(s, count)].flops / GIGA:.3g}" if (s, count) in rows_by else "–"
            for s in settings
        ]
        if ("tk_instruct", count) in rows_by and ("hint", count) in rows_by:
            cells.append(
                f"{rows_by[('tk_instruct', count)].flops / rows_by[('hint', count)].flops:.2f}"
            )
        else:
            cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def many_shot_table(rows: Sequence[InferenceRow], examples: int) -> str:
    """
    Per shot count: the instruction's tokens and chunks, and per setting the median seconds per
    task and per example and the analytic FLOPs per task and per example.
    """
    rows_by = _by_key(rows)
    shots = sorted({row.shots for row in rows})
    settings = [s for s in SETTINGS_ORDER if any(row.setting == s for row in rows)]
    header = ["shots", "t", "chunks"] + [
        f"{BENCHMARK_MODELS[s].label} {unit}"
        for s in settings
        for unit in ("s/task", "ms/example", "GFLOPs/task", "GFLOPs/example")
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for count in shots:
        first = next(row for row in rows if row.shots == count)
        cells = [str(count), str(first.instruction_length), str(first.instruction_chunks)]
        for setting in settings:
            row = rows_by.get((setting, count))
            if row is None:  # Tk-Instruct past its window
                cells += ["–"] * 4
                continue
            seconds = row.measurement.median()
            cells += [
                f"{seconds:.2f}",
                f"{1000 * seconds / examples:.1f}",
                f"{row.flops / GIGA:.3g}",
                f"{row.flops / examples / GIGA:.3g}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def training_table(measurements: Dict[str, Measurement], batch_description: str) -> str:
    hint, tk_instruct = measurements["hint"], measurements["tk_instruct"]
    return "\n".join(
        [
            "| batch | HINT s/step | Tk-Instruct s/step | HINT / Tk-Instruct |",
            "|---|---|---|---|",
            f"| {batch_description} | {hint.median():.3f} ({hint.median('cpu'):.3f}) | "
            f"{tk_instruct.median():.3f} ({tk_instruct.median('cpu'):.3f}) | "
            f"{paired_ratio(hint, tk_instruct):.2f} "
            f"({paired_ratio(hint, tk_instruct, 'cpu'):.2f}) |",
        ]
    )


def grouped_training_table(
    measurements: Dict[str, Measurement],
    flops: Dict[str, float],
    batch_size: int,
    tasks_per_batch: Sequence[int],
) -> str:
    """
    Seconds per training step on mixed batches and on batches of g tasks, HINT beside
    Tk-Instruct, with each step's analytic FLOPs and the ratios to the mixed batch's.
    """
    lines = [
        "| tasks per batch | HINT s/step | Tk-Instruct s/step | HINT / Tk-Instruct "
        "| HINT / HINT mixed | HINT GFLOPs | Tk-Instruct GFLOPs | HINT / Tk-Instruct FLOPs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tasks in [None, *tasks_per_batch]:
        hint, tk_instruct = (measurements[job_key(name, tasks)] for name in TRAINING_SETTINGS)
        hint_flops, tk_flops = (flops[job_key(name, tasks)] for name in TRAINING_SETTINGS)
        label = f"{batch_size} (mixed)" if tasks is None else str(tasks)
        lines.append(
            f"| {label} | {hint.median():.3f} ({hint.median('cpu'):.3f}) "
            f"| {tk_instruct.median():.3f} ({tk_instruct.median('cpu'):.3f}) "
            f"| {paired_ratio(hint, tk_instruct):.2f} "
            f"({paired_ratio(hint, tk_instruct, 'cpu'):.2f}) "
            f"| {paired_ratio(hint, measurements['hint']):.2f} "
            f"({paired_ratio(hint, measurements['hint'], 'cpu'):.2f}) "
            f"| {hint_flops / GIGA:.1f} | {tk_flops / GIGA:.1f} | {hint_flops / tk_flops:.2f} |"
        )
    return "\n".join(lines)


def memory_table(rows: Sequence[MemoryRow]) -> str:
    lines = [
        "| shots | t | HINT cached task, analytic MiB | measured (TaskState) MiB "
        "| decoder-only KV cache MiB | KV cache / HINT "
        "| instruction K/V of all cross-attentions MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.shots} | {row.instruction_length} | {row.hint_analytic / MEBI:.3g} "
            f"| {row.hint_measured / MEBI:.3g} "
            f"| {row.decoder_only_kv_cache / MEBI:.3g} "
            f"| {row.decoder_only_kv_cache / row.hint_measured:.2f} "
            f"| {row.cross_attention_kv / MEBI:.3g} |"
        )
    return "\n".join(lines)


def plot_figure4(
    rows_by_device: Dict[str, Sequence[InferenceRow]],
    title: str,
    path: Path,
    note: Optional[str] = None,
) -> Path:
    """Seconds per task against shots, one line per setting and device; analytic GFLOPs beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, flops_axis) = plt.subplots(1, 2, figsize=(10, 4))
    colours = {
        "tk_instruct": "tab:red",
        "hint": "tab:blue",
        "hint_without_fusion": "tab:purple",
        "hint_cached": "tab:cyan",
        "floor": "tab:gray",
    }
    styles = ["-", "--", ":"]
    plotted_flops = False
    for device_index, (device, rows) in enumerate(rows_by_device.items()):
        for setting in SETTINGS_ORDER:
            points = sorted((row.shots, row) for row in rows if row.setting == setting)
            if not points:
                continue
            shots = [count for count, _ in points]
            time_axis.plot(
                shots,
                [row.measurement.median() for _, row in points],
                styles[device_index % len(styles)],
                marker="o",
                color=colours[setting],
                label=f"{BENCHMARK_MODELS[setting].label} ({device})",
            )
            if not plotted_flops or device_index == 0:
                flops = [row.flops / GIGA for _, row in points]
                flops_axis.plot(
                    shots,
                    flops,
                    marker="o",
                    color=colours[setting],
                    label=BENCHMARK_MODELS[setting].label,
                )
        plotted_flops = True
    time_axis.set_xlabel("positive examples (shots)")
    time_axis.set_ylabel("seconds per task (median wall time)")
    time_axis.set_ylim(bottom=0)
    time_axis.legend()
    time_axis.set_title(title)
    flops_axis.set_xlabel("positive examples (shots)")
    flops_axis.set_ylabel("GFLOPs per task (analytic)")
    flops_axis.set_ylim(bottom=0)
    flops_axis.legend()
    if note:
        figure.text(0.5, 0.01, note, ha="center", fontsize=8)
    figure.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
