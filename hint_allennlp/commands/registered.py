"""`allennlp hint-registered`: lists the names this plugin registers, by kind."""

import argparse
from typing import Dict, List

from allennlp.commands.subcommand import Subcommand
from allennlp.common import Registrable


def registered_names() -> Dict[str, List[str]]:
    """{base class name: sorted names whose implementation lives in hint_allennlp}."""
    names: Dict[str, List[str]] = {}
    for base, registry in Registrable._registry.items():
        ours = sorted(
            name
            for name, (cls, _) in registry.items()
            if cls.__module__.startswith("hint_allennlp.")
        )
        if ours:
            names[base.__name__] = ours
    return dict(sorted(names.items()))


@Subcommand.register("hint-registered")
class ListRegistered(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "List the registered names that hint_allennlp provides."
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.set_defaults(func=lambda args: print_registered())
        return subparser


def print_registered() -> None:
    for base, names in registered_names().items():
        print(f"{base}: {', '.join(names)}")
