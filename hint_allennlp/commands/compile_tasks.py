"""
`allennlp hint-compile ARCHIVE INSTRUCTIONS --output-dir DIR`: runs the hypernetwork of a trained
model once per task and writes one small file per task with its generated modules and encoded
instruction (`hint_allennlp.modules.serving.compiled_task`), for `hint_instruction`'s
`compiled_tasks`; for a decoder-only model, the keys and values of the task's instruction.
"""

import argparse
import logging
from pathlib import Path

from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.data import Batch
from allennlp.models.archival import load_archive
from allennlp.nn import util

from hint_allennlp.commands.guards import check_cuda_device
from hint_allennlp.data.instruction_inputs import read_task_instructions
from hint_allennlp.modules.serving.compiled_task import (
    COMPILED_TASK_SUFFIX,
    CompiledTask,
    model_fingerprint,
)

logger = logging.getLogger(__name__)


@Subcommand.register("hint-compile")
class CompileTasks(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Compile tasks: save each task's generated modules, for prediction without the "
            "hypernetwork."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("archive_file", help="the trained model archive (model.tar.gz)")
        subparser.add_argument(
            "instructions",
            help="an SNI task file or glob; JSON lines with 'task' and 'instruction' (optional "
            "'positive_examples'); a text file with 'task<TAB>instruction' per line; or a "
            "directory of such files (.json, .jsonl, .txt: all are read, any other is named)",
        )
        subparser.add_argument(
            "--output-dir", required=True, help="where to write <task>.hint.pt files"
        )
        subparser.add_argument(
            "--overwrite",
            action="store_true",
            help="delete the compiled tasks of other models from --output-dir first (without "
            "it, a folder holding another model's compiled tasks is refused)",
        )
        subparser.add_argument("--cuda-device", type=int, default=-1)
        subparser.add_argument(
            "--overrides", default="", help="a JSON string overriding the archive's config"
        )
        subparser.set_defaults(func=compile_tasks_from_args)
        return subparser


def compile_tasks_from_args(args: argparse.Namespace) -> None:
    compile_tasks(
        args.archive_file,
        args.instructions,
        args.output_dir,
        args.cuda_device,
        args.overrides,
        args.overwrite,
    )


def compile_tasks(
    archive_file: str,
    instructions: str,
    output_dir: str,
    cuda_device: int = -1,
    overrides: str = "",
    overwrite: bool = False,
) -> None:
    # Everything that can be checked without the model is, before it loads.
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise ConfigurationError(f"--output-dir {output_dir} is a file, not a directory")
    check_cuda_device(cuda_device)
    tasks = list(read_task_instructions(instructions))
    if not tasks:
        raise ConfigurationError(f"{instructions}: no instructions to compile")
    archive = load_archive(archive_file, cuda_device=cuda_device, overrides=overrides)
    model, reader = archive.model.eval(), archive.validation_dataset_reader
    if not getattr(model, "compiles_instructions", False):
        raise ConfigurationError(
            f"{archive_file}: this model keeps nothing per instruction to compile (no hypernetwork "
            "reading instructions, no instruction key/value cache)"
        )
    fingerprint = model_fingerprint(model)
    _clear_other_models_tasks(output_dir, fingerprint, overwrite)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    for task, instruction in Tqdm.tqdm(tasks, desc="compiling tasks"):
        instance = reader.text_to_instance(input="", task=task, **instruction.reader_arguments())
        reader.apply_token_indexers(instance)
        if "instruction_tokens" not in instance:
            raise ConfigurationError(
                f"{archive_file}: its reader gives the instruction inside the input, not on its "
                "own: nothing to compile (a causal LM needs instruction_format "
                "'tk_instruct_prefix')"
            )
        batch = Batch([instance])
        batch.index_instances(model.vocab)
        instruction_tokens = util.move_to_device(
            batch.as_tensor_dict()["instruction_tokens"], model._get_prediction_device()
        )
        key, modules = model.compile_instruction(instruction_tokens)
        path = CompiledTask(
            task, instruction.to_json(), key, modules, fingerprint, archive=archive_file
        ).save(output_dir)
        print(f"{task}\t{path}\t{path.stat().st_size} bytes")


def _clear_other_models_tasks(output_dir: str, fingerprint: str, overwrite: bool) -> None:
    """
    Refuses an output folder holding tasks compiled by another model (or files that are not
    readable compiled tasks), which would leave a folder mixing two models; with `overwrite`,
    deletes them.
    """
    others = [
        (path, archive)
        for path in sorted(Path(output_dir).glob(f"*{COMPILED_TASK_SUFFIX}"))
        for made_by, archive in [CompiledTask.made_by(path)]
        if made_by != fingerprint
    ]
    if not others:
        return
    path, archive = others[0]
    origin = f"compiled from {archive}" if archive else "of an unknown or damaged origin"
    if not overwrite:
        raise ConfigurationError(
            f"--output-dir {output_dir} holds {len(others)} compiled task file(s) of another "
            f"model, such as {path.name} ({origin}): this model's tasks there would make a folder "
            "that mixes two models. Give another --output-dir, or --overwrite to delete those "
            "files first."
        )
    for path, _ in others:
        logger.warning("--overwrite: deleting %s (another model's compiled task)", path)
        path.unlink()
