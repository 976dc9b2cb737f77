"""
`python -m benchmark cost`: the measured inference and training cost of HINT against its baselines
(tables, the paper's Figure 4, the targets), or with `--generalisation` the paper's Table 1 in
miniature, or with `--training-memory` the measured memory of a training step. The parts are the
modules of this folder; results and the exact commands are in docs/benchmarks.md.
"""

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List

import torch

from benchmark.generalisation import GeneralisationSettings
from benchmark.harness import log, machine_description, write_report

if TYPE_CHECKING:
    from benchmark.inference import SniShape

PARTS = ("inference", "training", "memory")
# The targets are set for the T5 v1.1-small-sized model on CPU; elsewhere the same ratios are
# reported for reference.
TARGETS_SET_FOR = ("small", "cpu")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-dir", default="benchmark_output", help="where results are written"
    )
    parser.add_argument(
        "--models",
        default="small,tiny",
        help="model shapes, comma-separated: small (T5 v1.1 small), tiny, mini",
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}"
    )
    parser.add_argument(
        "--shots", default="0,1,2,3,4,5", help="positive examples in the instruction"
    )
    parser.add_argument("--examples", type=int, default=100, help="examples per task")
    parser.add_argument(
        "--sni-lengths",
        default=None,
        help="JSON of SNI median lengths from python -m benchmark sni_lengths --output "
        "(default: the paper's Table 7)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="inference batch size (default: all examples of the task)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of inference")
    parser.add_argument(
        "--inference-settings",
        default="hint,hint_cached,floor,tk_instruct",
        help="models timed in inference, comma-separated (also hint_without_fusion)",
    )
    parser.add_argument(
        "--instruction-window",
        type=int,
        default=None,
        help="many shots: instructions longer than this many tokens reach HINT in chunks of at "
        "most this many (instruction_chunking), and Tk-Instruct runs only while instruction and "
        "instance fit it (default: one sequence whatever its length)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of every job first")
    parser.add_argument("--train-batch-size", type=int, default=16)
    parser.add_argument(
        "--train-repeats", type=int, default=5, help="timed rounds of training steps"
    )
    parser.add_argument(
        "--train-tasks-per-batch",
        default="",
        help="also time training steps on batches of this many tasks (comma-separated, e.g. "
        "1,2,4; the task_grouped batch sampler's batches), beside mixed batches",
    )
    parser.add_argument(
        "--devices",
        default=None,
        help="comma-separated torch devices (default: cpu, and cuda when available)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--training-memory",
        action="store_true",
        help="peak CPU memory of one training step of the first of --models, with and without "
        "gradient checkpointing and bf16, each in its own process (Linux); "
        "batch --train-batch-size",
    )

    generalisation = parser.add_argument_group("generalisation (the paper's Table 1 in miniature)")
    generalisation.add_argument(
        "--generalisation",
        action="store_true",
        help="train HINT, Tk-Instruct and No-Instruct; RougeL on the test tasks",
    )
    generalisation.add_argument(
        "--sni-dir", default="fixtures/sni", help="holds tasks/ (SNI task files)"
    )
    generalisation.add_argument(
        "--train-split", default=None, help="default: <sni-dir>/splits/train_tasks.txt"
    )
    generalisation.add_argument(
        "--test-split", default=None, help="default: <sni-dir>/splits/test_tasks.txt"
    )
    generalisation.add_argument(
        "--generalisation-model", default="mini", help="model shape to train"
    )
    generalisation.add_argument("--settings", default="hint,tk_instruct,no_instruct")
    defaults = GeneralisationSettings()
    generalisation.add_argument(
        "--num-positive-examples", type=int, default=defaults.num_positive_examples
    )
    generalisation.add_argument("--epochs", type=int, default=defaults.epochs)
    generalisation.add_argument(
        "--train-instances-per-task", type=int, default=defaults.train_instances_per_task
    )
    generalisation.add_argument(
        "--test-instances-per-task", type=int, default=defaults.test_instances_per_task
    )
    generalisation.add_argument(
        "--max-input-tokens",
        type=int,
        default=defaults.max_input_tokens,
        help="instruction and encoder input",
    )
    generalisation.add_argument("--max-target-tokens", type=int, default=defaults.max_target_tokens)
    generalisation.add_argument(
        "--max-decoding-steps", type=int, default=defaults.max_decoding_steps
    )
    generalisation.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size)
    generalisation.add_argument("--lr", type=float, default=defaults.lr)


def run(args: argparse.Namespace) -> None:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if args.generalisation:
        run_generalisation_mode(args, output_dir, args.command)
    elif args.training_memory:
        run_training_memory_mode(args, output_dir, args.command)
    else:
        run_cost_benchmarks(args, output_dir, args.command)


def _csv(text: str) -> List[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def sni_shape(args: argparse.Namespace) -> "SniShape":
    """The SNI lengths of `--sni-lengths`, or the paper's; `--examples` examples per task."""
    from benchmark.inference import SniShape

    if args.sni_lengths is None:
        return SniShape(examples=args.examples)
    medians = json.loads(Path(args.sni_lengths).read_text())
    try:
        return SniShape.from_medians(medians, args.examples)
    except KeyError as missing:
        raise ValueError(
            f"{args.sni_lengths} has no {missing}: --sni-lengths takes the JSON that "
            "python -m benchmark sni_lengths --output writes"
        ) from None


def run_cost_benchmarks(args: argparse.Namespace, output_dir: Path, command: str) -> None:
    from benchmark import report
    from benchmark.inference import benchmark_inference
    from benchmark.memory import task_memory
    from benchmark.models import build_checkpoint, build_model
    from benchmark.training import TrainingShape, benchmark_training, training_step_flops

    parts = _csv(args.parts)
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"Unknown parts {sorted(unknown)}; choose from {PARTS}")
    shots = [int(count) for count in _csv(args.shots)]
    devices = (
        _csv(args.devices)
        if args.devices
        else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    shape = sni_shape(args)
    tasks_per_batch = [int(count) for count in _csv(args.train_tasks_per_batch)]
    training_shape = TrainingShape.of_sni(shape, args.train_batch_size)
    machine = machine_description()
    results: Dict = {"machine": machine, "models": {}}
    sections: List[str] = []
    all_targets: List[report.Target] = []

    with tempfile.TemporaryDirectory(prefix="hint-benchmark-") as checkpoints_dir:
        for model_shape in _csv(args.models):
            log(f"building the {model_shape} checkpoint")
            checkpoint = build_checkpoint(model_shape, checkpoints_dir, seed=args.seed)
            model_results: Dict = {}
            sections.append(f"## Model `{model_shape}`\n")
            if "inference" in parts:
                rows_by_device = {}
                for device in devices:
                    log(f"{model_shape}, {device}: inference, shots {shots}, {args.repeats} rounds")
                    rows = benchmark_inference(
                        checkpoint,
                        shots,
                        torch.device(device),
                        repeats=args.repeats,
                        warmup=args.warmup,
                        batch_size=args.batch_size or args.examples,
                        shape=shape,
                        settings=_csv(args.inference_settings),
                        log=lambda message: log(f"  inference {message}"),
                        instruction_window=args.instruction_window,
                    )
                    rows_by_device[device] = rows
                    targets = report.inference_targets(
                        rows, f"{model_shape}, {device}", (model_shape, device) == TARGETS_SET_FOR
                    )
                    all_targets += targets
                    model_results[f"inference_{device}"] = [row.to_json() for row in rows]
                    model_results[f"targets_{device}"] = [target.to_json() for target in targets]
                    batch_size = args.batch_size or args.examples
                    if args.instruction_window is not None:
                        sections.append(
                            f"### Many shots, {device}: one task of {shape.examples} examples, "
                            f"window {args.instruction_window} tokens\n\n"
                            "Instructions past the window reach HINT in chunks (`chunks`); "
                            "Tk-Instruct only while instruction and instance fit the window. "
                            "Median wall time; analytic FLOPs (`hint_allennlp/cost/flops.py`).\n\n"
                            + report.many_shot_table(rows, shape.examples)
                            + "\n"
                        )
                    sections.append(
                        f"### Inference, {device}: one task of {shape.examples} examples "
                        f"(batches of {batch_size}), "
                        f"instance {shape.instance} tokens, output {shape.output} + EOS\n\n"
                        "Median seconds per task, wall time (CPU time of the process in "
                        "parentheses); ratios are medians of per-round ratios, wall (CPU).\n\n"
                        + report.inference_table(rows)
                        + "\n\n"
                        "Analytic FLOPs (`hint_allennlp/cost/flops.py`, decoder over "
                        f"{shape.decoding_steps} tokens):\n\n" + report.flops_table(rows) + "\n"
                    )
                per_shot = shape.instruction_length(1) - shape.definition
                figure = report.plot_figure4(
                    rows_by_device,
                    f"{model_shape}: {shape.examples} examples of one task",
                    output_dir / f"figure4_{model_shape}.png",
                    note=f"{machine['cpu']}, {machine['threads']} threads; "
                    f"instance {shape.instance}, "
                    f"instruction {shape.definition} + {per_shot}/shot tokens",
                )
                sections.append(f"![time against shots]({figure.name})\n")
            if "training" in parts:
                for device in devices:
                    log(f"{model_shape}, {device}: training steps, {args.train_repeats} rounds")
                    measurements = benchmark_training(
                        checkpoint,
                        torch.device(device),
                        repeats=args.train_repeats,
                        warmup=args.warmup,
                        shape=training_shape,
                        log=lambda message: log(f"  training {message}"),
                        tasks_per_batch=tasks_per_batch,
                    )
                    target = report.training_target(
                        measurements,
                        f"{model_shape}, {device}",
                        (model_shape, device) == TARGETS_SET_FOR,
                    )
                    all_targets.append(target)
                    model_results[f"training_{device}"] = {
                        k: m.to_json() for k, m in measurements.items()
                    }
                    batch = (
                        f"{training_shape.batch_size} × (instruction {training_shape.instruction}, "
                        f"instance {training_shape.instance}, target {training_shape.target}), "
                        "one task per example"
                    )
                    sections.append(
                        f"### Training, {device}: one Adafactor step "
                        "(forward, backward, update)\n\n"
                        + report.training_table(measurements, batch)
                        + "\n"
                    )
                    if tasks_per_batch:
                        flops = training_step_flops(checkpoint, training_shape, tasks_per_batch)
                        model_results[f"training_flops_{device}"] = flops
                        sections.append(
                            f"### Training, {device}: batches of g tasks "
                            f"× {training_shape.batch_size} / g examples (`task_grouped`)\n\n"
                            "Median seconds per step, wall (CPU); ratios are medians of "
                            "per-round ratios; analytic FLOPs of the step "
                            "(`hint_allennlp.cost.flops.training_flops`).\n\n"
                            + report.grouped_training_table(
                                measurements, flops, training_shape.batch_size, tasks_per_batch
                            )
                            + "\n"
                        )
            if "memory" in parts:
                rows = task_memory(
                    build_model("hint", checkpoint), shots, shape, args.instruction_window
                )
                model_results["memory"] = [row.to_json() for row in rows]
                sections.append(
                    "### Memory of one cached task (float32)\n\n" + report.memory_table(rows) + "\n"
                )
            results["models"][model_shape] = model_results

    results["targets"] = [target.to_json() for target in all_targets]
    print()
    for target in all_targets:
        print(target.line())
    body = "\n".join(
        [
            "## Targets\n",
            f"Set for `{TARGETS_SET_FOR[0]}` on {TARGETS_SET_FOR[1]}, judged on wall time; "
            "the same ratios elsewhere are for reference. Each ratio is the median of per-round "
            "ratios.\n",
            report.targets_table(all_targets) + "\n" if all_targets else "(none measured)\n",
            *sections,
        ]
    )
    write_report(output_dir / "results", "HINT benchmark results", command, body, results)
    log(f"and figure4_*.png in {output_dir}")


def run_generalisation_mode(args: argparse.Namespace, output_dir: Path, command: str) -> None:
    from benchmark.generalisation import (
        GeneralisationSettings,
        generalisation_table,
        run_generalisation,
    )
    from benchmark.models import build_checkpoint

    sni_dir = Path(args.sni_dir)
    settings = GeneralisationSettings(
        num_positive_examples=args.num_positive_examples,
        epochs=args.epochs,
        batch_size=args.train_batch_size,
        lr=args.lr,
        train_instances_per_task=args.train_instances_per_task,
        test_instances_per_task=args.test_instances_per_task,
        max_input_tokens=args.max_input_tokens,
        max_target_tokens=args.max_target_tokens,
        max_decoding_steps=args.max_decoding_steps,
        eval_batch_size=args.eval_batch_size,
    )
    # Kept beside the trained models: their archives load the T5 config and tokenizer from it.
    checkpoint = build_checkpoint(
        args.generalisation_model, output_dir / "generalisation", seed=args.seed
    )
    rows = run_generalisation(
        checkpoint,
        tasks_dir=sni_dir / "tasks",
        train_split=Path(args.train_split or sni_dir / "splits" / "train_tasks.txt"),
        test_split=Path(args.test_split or sni_dir / "splits" / "test_tasks.txt"),
        output_dir=output_dir / "generalisation",
        model_settings=_csv(args.settings),
        settings=settings,
        log=log,
    )
    table = generalisation_table(rows)
    print(table)
    write_report(
        output_dir / "generalisation",
        "Generalisation in miniature",
        command,
        f"Model `{args.generalisation_model}`, settings: {settings}\n\n{table}",
        {"settings": asdict(settings), "rows": [row.to_json() for row in rows]},
    )


def run_training_memory_mode(args: argparse.Namespace, output_dir: Path, command: str) -> None:
    from benchmark.models import build_checkpoint
    from benchmark.training import TrainingShape
    from benchmark.training_memory import markdown_table, measure

    shape_name = _csv(args.models)[0]
    shape = TrainingShape.of_sni(sni_shape(args), args.train_batch_size)
    with tempfile.TemporaryDirectory() as directory:
        results = measure(
            build_checkpoint(shape_name, directory, seed=args.seed), shape, args.threads
        )
    table = markdown_table(results)
    print(table)
    write_report(
        output_dir / "training_memory",
        "Training memory, measured",
        command,
        f"Model `{shape_name}`, HINT, {shape}\n\n{table}",
        {"shape": asdict(shape), "rows": [row.to_json() for row in results]},
    )
