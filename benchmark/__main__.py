"""
`python -m benchmark SUBCOMMAND [options]`, from the project's root: every benchmark of this folder
as a subcommand (`python -m benchmark SUBCOMMAND --help` for its options). Results and the exact
commands are in docs/benchmarks.md.
"""

import argparse
import importlib
import sys
from typing import Optional, Sequence

from benchmark.harness import PROGRAM, command_line

# Subcommand: the module of this folder that defines its `add_arguments(parser)` and `run(args)`.
SUBCOMMANDS = {
    "cost": "inference and training cost, memory of a cached task (or --generalisation, "
    "--training-memory)",
    "decoder_only": "HINT against a decoder-only model with its instruction key/value cache",
    "causal_hint": "HINT on a causal LM beside the decoder-only ways of reading an instruction",
    "table1_flops": "the paper's Table 1 'Rel. FLOPs' column in the paper's convention",
    "sni_lengths": "SNI's median lengths (the paper's Table 7), measured on an SNI folder",
    "multilingual": "what T5's and the tiny mT5's vocabularies keep of a task in Russian",
    "training_memory_plan": "the analytic training memory table of docs/training_large_models.md",
    "training_memory": "one measured training step (run by cost --training-memory, one process "
    "per configuration)",
}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.strip().split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    for name, summary in SUBCOMMANDS.items():
        module = importlib.import_module(f"benchmark.{name}")
        subparser = subparsers.add_parser(
            name,
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def main(arguments: Optional[Sequence[str]] = None) -> None:
    arguments = sys.argv[1:] if arguments is None else list(arguments)
    args = parser().parse_args(arguments)
    args.command = command_line(arguments)
    args.run(args)


if __name__ == "__main__":
    main()
