"""
`allennlp hint-make-suite DIR`: writes the instruction suite of
`hint_allennlp.data.instruction_suite` (the demo's tasks) to DIR as SNI task files and splits.
"""

import argparse
from pathlib import Path

from allennlp.commands.subcommand import Subcommand

from hint_allennlp.data.instruction_suite import HELD_OUT_INPUTS_DIR, build_suite, write_suite


@Subcommand.register("hint-make-suite")
class MakeSuite(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Write the demo's instruction suite (SNI task files and splits) to a directory."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument(
            "output_dir", help="where to write tasks/, held_out_inputs/ and splits/"
        )
        subparser.add_argument(
            "--instances-per-task", type=int, default=300, help="training inputs per training task"
        )
        subparser.add_argument(
            "--held-out-inputs", type=int, default=50, help="inputs every task is evaluated on"
        )
        subparser.add_argument("--seed", type=int, default=0)
        subparser.set_defaults(func=make_suite_from_args)
        return subparser


def make_suite_from_args(args: argparse.Namespace) -> None:
    suite = build_suite(args.instances_per_task, args.held_out_inputs, args.seed)
    output_dir = Path(args.output_dir)
    write_suite(output_dir, suite)
    print(
        f"{len(suite.training_tasks)} training tasks ({args.instances_per_task} inputs each) and "
        f"{len(suite.unseen_tasks)} unseen tasks written to {output_dir}/tasks, "
        f"splits in {output_dir}/splits; "
        f"the training tasks on the {args.held_out_inputs} held-out inputs in "
        f"{output_dir}/{HELD_OUT_INPUTS_DIR}."
    )
