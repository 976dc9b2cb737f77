"""
`python -m benchmark multilingual`: what a multilingual vocabulary changes for the readers. A task
in Russian (fixtures/multilingual/, written for this project) and an English fixture SNI task read
by the `sni` reader ('Def + 2 Pos.', HINT's format) with the tiny T5 (T5's English-centred
SentencePiece vocabulary) and with the tiny mT5 (its own vocabulary of 500 pieces trained on
English, German, Russian and Greek text): per field, the tokens per instance and the share of them
that are the unknown token, which carries nothing of the text it replaces.
"""

import argparse
from typing import Dict, List

from allennlp.common import Params
from allennlp.data import DatasetReader

import hint_allennlp  # noqa: F401  (the registered readers)

FIELDS = ("instruction_tokens", "source_tokens", "target_tokens")
TASKS = {
    "Russian (ru_country_capital)": "fixtures/multilingual/sni/tasks/ru_country_capital.json",
    "English (task1146_country_capital)": "fixtures/sni/tasks/task1146_country_capital.json",
}
CHECKPOINTS = {"tiny T5": "fixtures/tiny-t5", "tiny mT5": "fixtures/tiny-mt5"}  # built by `make`


def field_statistics(checkpoint: str, task_file: str) -> Dict[str, List[float]]:
    """Per field: [tokens per instance, share of unknown tokens]."""
    reader = DatasetReader.from_params(
        Params({"type": "sni", "model_name": checkpoint, "english_only": False})
    )
    unknown = reader._tokenizer.tokenizer.unk_token_id
    instances = list(reader.read(task_file))
    statistics = {}
    for field in FIELDS:
        ids = [token.text_id for instance in instances for token in instance[field].tokens]
        statistics[field] = [len(ids) / len(instances), ids.count(unknown) / len(ids)]
    return statistics


def table() -> str:
    lines = [
        "| task | checkpoint | "
        + " | ".join(f"{field}: tokens, unknown" for field in FIELDS)
        + " |",
        "|---|---|" + "---|" * len(FIELDS),
    ]
    for task, task_file in TASKS.items():
        for name, checkpoint in CHECKPOINTS.items():
            statistics = field_statistics(checkpoint, task_file)
            cells = [
                f"{statistics[field][0]:.1f}, {100 * statistics[field][1]:.0f}%" for field in FIELDS
            ]
            lines.append(f"| {task} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> None:
    print(table())
