"""
The demo's summary (`scripts/demo.py`, step 3): reads what the demo wrote to its output folder (each
model's `metrics.json`, the HINT run's `config.json`, the timed predictions' seconds, the fixture
SNI run), prints the side-by-side table and writes it (`table.md`), `results.json` and the plot
`quality_vs_cost.png` to the same folder; also on its own, on a demo's output folder:

    python scripts/demo_summary.py OUTPUT WALL_SECONDS CPU_SECONDS
"""

import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {"hint": "HINT", "tk_instruct": "Tk-Instruct", "no_instruct": "No-Instruct"}
HEADER = [
    "model",
    "seen EM",
    "seen RougeL",
    "unseen EM",
    "unseen RougeL",
    "FLOPs/Tk",
    "predict s/task 0 pos",
    "2 pos",
]
EXPLANATION = """\
What this shows: whether a model reads the instruction. No-Instruct sees the same inputs without it
and can only guess which words are wanted. HINT reads it once per task through its hypernetwork, not
with every input as Tk-Instruct does, so its inference FLOPs are a fraction of Tk-Instruct's. What
it does not show: the paper's numbers. This is a T5 of d_model 64 from random weights and a toy
suite; the paper fine-tunes pretrained T5s of up to 11B on 757 SNI tasks. Unseen-task scores here
are as they come out (the suite was not tuned for them): a random-init model that has seen each
category asked for first and second may or may not combine them. At this size the LM head is most of
the model, so cost ratios are closer to 1 than for real T5s, and wall times are mostly Python
overhead: they barely differ between the models, with or without positive examples."""


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def predict_seconds_per_task(
    output: Path, model: str, shots: int, num_tasks: int
) -> Optional[float]:
    """From the loaded model to the written predictions, as the demo measured it."""
    seconds = output / f"predict_{model}_{shots}pos.seconds"
    if not seconds.exists():
        return None
    return float(seconds.read_text()) / num_tasks


def model_rows(output: Path, num_tasks: int) -> Dict[str, dict]:
    """Per model: seen (validation) and unseen (test) scores, FLOPs, predict times."""
    rows = {}
    for model in NAMES:
        metrics = read_json(output / model / "metrics.json")
        rows[model] = {
            "seen_exact_match": metrics["validation_exact_match"],
            "seen_rougeL": metrics["validation_rougeL"],
            "unseen_exact_match": metrics["test_exact_match"],
            "unseen_rougeL": metrics["test_rougeL"],
            "flops": metrics["test_flops"],
            "training_loss": metrics["training_loss"],
            "predict_seconds_per_task_0pos": predict_seconds_per_task(output, model, 0, num_tasks),
            "predict_seconds_per_task_2pos": predict_seconds_per_task(output, model, 2, num_tasks),
        }
    for row in rows.values():
        # All three models ran the same unseen examples: the ratio of FLOPs is the ratio of costs.
        row["flops_vs_tk_instruct"] = row["flops"] / rows["tk_instruct"]["flops"]
    # No-Instruct never reads the instruction: its time at 2 positive examples is its time at 0.
    no_instruct = rows["no_instruct"]
    no_instruct["predict_seconds_per_task_2pos"] = no_instruct["predict_seconds_per_task_0pos"]
    return rows


def table_lines(rows: Dict[str, dict]) -> List[List[str]]:
    return [HEADER] + [
        [
            NAMES[model],
            f"{row['seen_exact_match']:.1f}",
            f"{row['seen_rougeL']:.1f}",
            f"{row['unseen_exact_match']:.1f}",
            f"{row['unseen_rougeL']:.1f}",
            f"{row['flops_vs_tk_instruct']:.2f}",
            f"{row['predict_seconds_per_task_0pos']:.2f}",
            f"{row['predict_seconds_per_task_2pos']:.2f}",
        ]
        for model, row in rows.items()
    ]


def aligned(lines: List[List[str]]) -> str:
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if column else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths))
        )
        for line in lines
    )


def markdown(lines: List[List[str]]) -> str:
    rule = ["---"] * len(lines[0])
    return "\n".join("| " + " | ".join(line) + " |" for line in [lines[0], rule] + lines[1:])


def setup_sentence(output: Path) -> str:
    """The shared recipe, read from the HINT run's config."""
    config = read_json(output / "hint" / "config.json")
    trainer, loader = config["trainer"], config["data_loader"]
    accumulation = trainer["num_gradient_accumulation_steps"]
    steps = trainer["num_epochs"] * loader["batches_per_epoch"] // accumulation
    dropout = config["model"].get("dropout")
    return (
        f"Each model: the demo's T5 ({output}/t5, d_model 64, randomly initialised), trained for "
        f"{steps} steps of {loader['batch_size'] * accumulation} examples (Adafactor, lr "
        f"{trainer['optimizer']['lr']}, "
        + ("the T5's dropout" if dropout is None else f"dropout {dropout}")
        + ") on 12 training tasks, 'Def + 2 Pos.'."
    )


def plot(rows: Dict[str, dict], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(5.5, 4))
    for model, row in rows.items():
        cost = row["flops_vs_tk_instruct"]
        seen = axes.scatter(cost, row["seen_exact_match"], s=60, color="C0")
        unseen = axes.scatter(
            cost, row["unseen_exact_match"], s=60, facecolors="none", edgecolors="C1"
        )
        axes.annotate(
            NAMES[model], (cost, row["seen_exact_match"]), textcoords="offset points", xytext=(6, 4)
        )
    axes.legend([seen, unseen], ["seen tasks, held-out inputs", "unseen tasks"], loc="center right")
    axes.set_xlabel("inference FLOPs / Tk-Instruct's (2 positive examples)")
    axes.set_ylabel("exact match (%)")
    axes.set_xlim(0, 1.15)
    axes.set_ylim(-5, 105)
    axes.set_title("Instruction suite: quality vs inference cost")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(output: Path, seconds: int, cpu_seconds: float) -> None:
    num_tasks = len((output / "suite" / "splits" / "test_tasks.txt").read_text().split())
    rows = model_rows(output, num_tasks)
    lines = table_lines(rows)
    setup = setup_sentence(output)
    fixture = read_json(output / "fixture_sni" / "metrics.json")
    fixture_config = read_json(output / "fixture_sni" / "config.json")
    fixture_steps = (
        fixture_config["trainer"]["num_epochs"] * fixture_config["data_loader"]["batches_per_epoch"]
    )
    predictions_file = output / "predict_hint_2pos.jsonl"
    predictions = [json.loads(line) for line in predictions_file.read_text().splitlines()]

    print(setup)
    print(
        "EM exact match, seen = the training tasks on held-out inputs, unseen = the held-out "
        "tasks\n"
        "(new pairs of categories); FLOPs/Tk = analytic inference FLOPs on the unseen tasks "
        "(2 positive\n"
        "examples) over Tk-Instruct's; predict s/task = wall time of `allennlp predict`'s\n"
        "functions per task, after loading the model.\n"
    )
    print(aligned(lines) + "\n")
    print(
        f"allennlp predict with HINT on the unseen tasks ({predictions_file}), "
        "the first of each task:"
    )
    for line in predictions[:: len(predictions) // num_tasks][:num_tasks]:
        task = line["id"].rsplit("-", 2)[0]
        print(
            f"  {task:32} input {line['input']!r:28} prediction {line['prediction']!r:16} "
            f"reference {line['references'][0]!r}"
        )
    print(
        f"\nHINT on the fixture SNI tasks (real SNI files, {fixture_steps} steps): unseen-task "
        f"RougeL {fixture['test_rougeL']:.1f}, exact match {fixture['test_exact_match']:.1f}; the "
        f"format works end to end, the model learns nothing in {fixture_steps} steps.\n"
    )
    print(EXPLANATION + "\n")
    print(
        f"Table, results.json and the plot (quality_vs_cost.png) in {output}/. Wall time: "
        f"{seconds // 60} min {seconds % 60} s; CPU time of both processes {cpu_seconds:.0f} s."
    )

    results = {"models": rows, "wall_seconds": seconds, "cpu_seconds": cpu_seconds}
    (output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (output / "table.md").write_text(setup + "\n\n" + markdown(lines) + "\n")
    plot(rows, output / "quality_vs_cost.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
