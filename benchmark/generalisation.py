"""
The paper's Table 1 in miniature: HINT, Tk-Instruct and No-Instruct trained from the same random
start on the SNI training tasks (each with its reader format), then RougeL and exact match on the
held-out test tasks, with relative inference FLOPs. Training and evaluation go through AllenNLP's
own `train_model` and `evaluate` with the config built here, so what is measured is the project's
training path. Relative FLOPs are analytic (`hint_allennlp/cost/flops.py`) over the test examples as
read in the HINT format (instruction t, input i, target o tokens; the instruction charged once per
task for HINT), divided by Tk-Instruct's on the same examples.
"""

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.data import DatasetReader
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.training.util import evaluate

from benchmark.harness import ResultRow
from benchmark.models import BENCHMARK_MODELS, model_params
from hint_allennlp.cost.flops import (
    ParameterCounts,
    TaskLengths,
    inference_flops,
    instruction_handling,
)


@dataclass
class GeneralisationSettings:
    """
    num_positive_examples : 0 is 'Def', 2 'Def + 2 Pos.'.
    epochs, batch_size, lr : training (Adafactor, constant lr, as the paper, §4).
    train_instances_per_task, test_instances_per_task : the first so many instances of each task.
    max_input_tokens : the limit on instructions and encoder inputs; max_target_tokens on targets.
    max_decoding_steps, eval_batch_size : greedy generation at evaluation.
    """

    num_positive_examples: int = 2
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-2  # T5's own from-scratch rate: the models start from random weights
    # With SNI's 60 training and 30 test tasks, three `mini` models train and evaluate in about
    # 20 minutes on 2 CPU cores.
    train_instances_per_task: int = 30
    test_instances_per_task: int = 20
    max_input_tokens: int = 512
    max_target_tokens: int = 64
    max_decoding_steps: int = 32
    eval_batch_size: int = 32


@dataclass
class GeneralisationRow(ResultRow):
    setting: str
    rouge_l: float
    exact_match: float
    relative_flops: float
    train_seconds: float
    eval_seconds: float
    train_instances: int
    test_instances: int


def reader_params(
    setting: str, checkpoint: Path, tasks_dir: Path, instances_per_task: int, settings
) -> Dict:
    return {
        "type": "sni",
        "tasks_dir": str(tasks_dir),
        "instruction_format": BENCHMARK_MODELS[setting].variant.instruction_format,
        "num_positive_examples": settings.num_positive_examples,
        "max_instances_per_task": instances_per_task,
        "model_name": str(checkpoint),
        "max_instruction_tokens": settings.max_input_tokens,
        "max_source_tokens": settings.max_input_tokens,
        "max_target_tokens": settings.max_target_tokens,
    }


def experiment_config(
    setting: str, checkpoint: Path, tasks_dir: Path, train_split: Path, settings
) -> Dict:
    return {
        "dataset_reader": reader_params(
            setting, checkpoint, tasks_dir, settings.train_instances_per_task, settings
        ),
        "train_data_path": str(train_split),
        "vocabulary": {"type": "empty"},
        "model": model_params(setting, checkpoint, max_decoding_steps=settings.max_decoding_steps),
        "data_loader": {"batch_size": settings.batch_size, "shuffle": True},
        "trainer": {
            "num_epochs": settings.epochs,
            "optimizer": {
                "type": "huggingface_adafactor",
                "lr": settings.lr,
                "relative_step": False,
                "scale_parameter": True,
                "warmup_init": False,
            },
            "checkpointer": {"keep_most_recent_by_count": 1},
            "cuda_device": -1,
        },
    }


def task_lengths(
    checkpoint: Path, tasks_dir: Path, test_split: Path, settings
) -> Dict[str, TaskLengths]:
    """Mean instruction, input and target tokens of each test task's examples, in HINT format."""
    reader = DatasetReader.from_params(
        Params(
            reader_params("hint", checkpoint, tasks_dir, settings.test_instances_per_task, settings)
        )
    )
    sums: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for instance in reader.read(str(test_split)):
        task_sums = sums[instance["metadata"]["task"]]
        task_sums[0] += len(instance["instruction_tokens"])
        task_sums[1] += len(instance["source_tokens"])
        task_sums[2] += len(instance["target_tokens"])
        task_sums[3] += 1
    return {
        task: TaskLengths(instruction=t / n, instance=i / n, output=o / n, examples=n)
        for task, (t, i, o, n) in sums.items()
    }


def run_generalisation(
    checkpoint: Path,
    tasks_dir: Path,
    train_split: Path,
    test_split: Path,
    output_dir: Path,
    model_settings: Sequence[str] = ("hint", "tk_instruct", "no_instruct"),
    settings: Optional[GeneralisationSettings] = None,
    log: Optional[Callable[[str], None]] = None,
) -> List[GeneralisationRow]:
    settings = settings or GeneralisationSettings()
    log = log or (lambda message: None)
    lengths = task_lengths(checkpoint, tasks_dir, test_split, settings)
    hint_reader = reader_params(
        "hint", checkpoint, tasks_dir, settings.train_instances_per_task, settings
    )
    train_instances = sum(
        1 for _ in DatasetReader.from_params(Params(hint_reader)).read(str(train_split))
    )
    flops: Dict[str, float] = {}
    results = {}
    for setting in model_settings:
        log(f"generalisation: training {BENCHMARK_MODELS[setting].label}")
        config = experiment_config(setting, checkpoint, tasks_dir, train_split, settings)
        start = time.perf_counter()
        model = train_model(Params(config), serialization_dir=str(output_dir / setting), force=True)
        train_seconds = time.perf_counter() - start

        log(f"generalisation: evaluating {BENCHMARK_MODELS[setting].label}")
        reader = DatasetReader.from_params(
            Params(
                reader_params(
                    setting, checkpoint, tasks_dir, settings.test_instances_per_task, settings
                )
            )
        )
        loader = MultiProcessDataLoader(
            reader, str(test_split), batch_size=settings.eval_batch_size
        )
        loader.index_with(model.vocab)
        start = time.perf_counter()
        metrics = evaluate(model, loader, cuda_device=-1)
        eval_seconds = time.perf_counter() - start

        counts = model.parameter_counts
        handling = instruction_handling(
            model.reads_instruction,
            model.instruction_fusion,
            BENCHMARK_MODELS[setting].variant.instruction_format,
        )
        flops[setting] = sum(inference_flops(handling, counts, task) for task in lengths.values())
        results[setting] = (metrics, train_seconds, eval_seconds)
        log(f"generalisation: {BENCHMARK_MODELS[setting].label} RougeL {metrics['rougeL']:.2f}")

    # Tk-Instruct's FLOPs on the same examples (also when it is not among the settings trained)
    plain = ParameterCounts.from_t5_config(model.t5.config)
    reference = sum(inference_flops("concatenated", plain, task) for task in lengths.values())
    test_instances = int(sum(task.examples for task in lengths.values()))
    return [
        GeneralisationRow(
            setting=setting,
            rouge_l=metrics["rougeL"],
            exact_match=metrics["exact_match"],
            relative_flops=flops[setting] / reference,
            train_seconds=train_seconds,
            eval_seconds=eval_seconds,
            train_instances=train_instances,
            test_instances=test_instances,
        )
        for setting, (metrics, train_seconds, eval_seconds) in results.items()
    ]


def generalisation_table(rows: Sequence[GeneralisationRow]) -> str:
    lines = [
        "| model | RougeL | exact match | rel. FLOPs | train s | eval s | train / test instances |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {BENCHMARK_MODELS[row.setting].label} | {row.rouge_l:.1f} | {row.exact_match:.1f} "
            f"| ×{row.relative_flops:.2f} | {row.train_seconds:.0f} | {row.eval_seconds:.0f} "
            f"| {row.train_instances} / {row.test_instances} |"
        )
    return "\n".join(lines)
