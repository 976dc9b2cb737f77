"""
Median lengths of Super-NaturalInstructions in T5 pieces, as the paper's Table 7 (appendix A.1:
"the median over the train split", each format measured on its own): over the training tasks as
the `sni` reader reads them (English tasks, at most 100 instances each, instances without an output
skipped), the final `</s>` not counted and nothing truncated.

| key | what is measured |
|---|---|
| `instance` | the encoder input of the 'hint' format: the instance input alone |
| `definition` | the hypernetwork input of 'Def': the Tk-Instruct-formatted definition |
| `definition_instance` | the 'tk_instruct' encoder input of 'Def' |
| `definition_two_positives` | the hypernetwork input of 'Def + 2 Pos.' |
| `definition_two_positives_instance` | the 'tk_instruct' encoder input of 'Def + 2 Pos.' |
| `output` | the training target (one reference per instance) |

The paper's values are `PAPER_TABLE_7`, the benchmarks' default SNI shape (`inference.SniShape`).
A median of an even count is the lower middle value (a length that occurs). The result is printed
beside the paper's values and, with `--output`, written as JSON, which `python -m benchmark cost
--sni-lengths` reads for its SNI-shaped inputs.

    python -m benchmark sni_lengths SNI_DIR [--split FILE] [--model-name NAME] [--output FILE]
"""

import argparse
import json
import logging
import statistics
from pathlib import Path
from typing import Dict, List

from hint_allennlp.data.dataset_readers import SuperNaturalInstructionsReader

# The paper's Table 7 (medians over SNI's training split).
PAPER_TABLE_7 = {
    "instance": 44,
    "definition": 69,
    "definition_instance": 133,
    "definition_two_positives": 197,
    "definition_two_positives_instance": 199,
    "output": 1,
}
# key: (instruction_format, positive examples, field measured)
MEASURED = {
    "instance": ("hint", 0, "source_tokens"),
    "definition": ("hint", 0, "instruction_tokens"),
    "definition_instance": ("tk_instruct", 0, "source_tokens"),
    "definition_two_positives": ("hint", 2, "instruction_tokens"),
    "definition_two_positives_instance": ("tk_instruct", 2, "source_tokens"),
    "output": ("hint", 0, "target_tokens"),
}
# Long enough that no SNI sequence is truncated and no demonstration left out.
NO_LIMIT = 10**6


def median_lengths(sni_dir: Path, split: Path, model_name: str) -> Dict[str, int]:
    """The medians of `MEASURED` over the tasks `split` names, in `sni_dir`/tasks."""
    lengths: Dict[str, List[int]] = {key: [] for key in MEASURED}
    for instruction_format, positives in sorted({(f, k) for f, k, _ in MEASURED.values()}):
        reader = SuperNaturalInstructionsReader(
            tasks_dir=str(sni_dir / "tasks"),
            instruction_format=instruction_format,
            num_positive_examples=positives,
            model_name=model_name,
            max_instruction_tokens=NO_LIMIT,
            max_source_tokens=NO_LIMIT,
            max_target_tokens=NO_LIMIT,
        )
        keys = {
            key: field
            for key, (f, k, field) in MEASURED.items()
            if (f, k) == (instruction_format, positives)
        }
        for instance in reader.read(str(split)):
            for key, field in keys.items():
                lengths[key].append(len(instance[field].tokens) - 1)  # without `</s>`
    return {key: statistics.median_low(values) for key, values in lengths.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sni_dir", type=Path, help="holds tasks/*.json")
    parser.add_argument(
        "--split",
        type=Path,
        default=None,
        help="the training tasks, one name a line (default: SNI_DIR/splits/train_tasks.txt)",
    )
    parser.add_argument(
        "--model-name",
        default="google/t5-base-lm-adapt",
        help="a T5 checkpoint whose tokenizer to count with (all T5 v1.1 sizes share one)",
    )
    parser.add_argument("--output", type=Path, default=None, help="write the medians as JSON")


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    split = args.split or args.sni_dir / "splits" / "train_tasks.txt"
    medians = median_lengths(args.sni_dir, split, args.model_name)
    print(f"Median T5 pieces over {split}:")
    print("| sequence | here | paper (Table 7) |\n|---|---|---|")
    for key, value in medians.items():
        print(f"| {key} | {value} | {PAPER_TABLE_7[key]} |")
    if args.output is not None:
        args.output.write_text(json.dumps(medians, indent=1) + "\n")
        print(f"Written to {args.output}")
