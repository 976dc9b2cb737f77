"""
`allennlp hint-compile ARCHIVE INSTRUCTIONS --output-dir DIR`: runs the hypernetwork of a trained
model once per task and writes one small file per task with its generated modules and encoded
instruction (`hint_allennlp.modules.serving.compiled_task`), for `hint_instruction`'s `compiled_tasks`.
"""
import argparse
import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.data import Batch
from allennlp.models.archival import load_archive
from allennlp.nn import util

from hint_allennlp.data.dataset_readers.sni import load_sni_task
from hint_allennlp.data.file_reading import expand_file_path
from hint_allennlp.modules.serving.compiled_task import CompiledTask, model_fingerprint
from hint_allennlp.predictors.hint_instruction_predictor import instruction_arguments, sni_task_instruction

logger = logging.getLogger(__name__)


@Subcommand.register("hint-compile")
class CompileTasks(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Compile tasks: save each task's generated modules, for prediction without the hypernetwork."
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("archive_file", help="the trained model archive (model.tar.gz)")
        subparser.add_argument(
            "instructions",
            help="an SNI task file, directory or glob; JSON lines with 'task' and 'instruction' "
            "(optional 'positive_examples'); or a text file with 'task<TAB>instruction' per line",
        )
        subparser.add_argument("--output-dir", required=True, help="where to write <task>.hint.pt files")
        subparser.add_argument("--cuda-device", type=int, default=-1)
        subparser.add_argument("--overrides", default="", help="a JSON string overriding the archive's config")
        subparser.set_defaults(func=compile_tasks_from_args)
        return subparser


def compile_tasks_from_args(args: argparse.Namespace) -> None:
    compile_tasks(args.archive_file, args.instructions, args.output_dir, args.cuda_device, args.overrides)


def compile_tasks(archive_file: str, instructions: str, output_dir: str, cuda_device: int = -1, overrides: str = "") -> None:
    archive = load_archive(archive_file, cuda_device=cuda_device, overrides=overrides)
    model, reader = archive.model.eval(), archive.validation_dataset_reader
    if getattr(model, "hypernetwork", None) is None or not model.hypernetwork.reads_instruction:
        raise ConfigurationError(f"{archive_file}: this model has no hypernetwork reading instructions to compile")
    fingerprint = model_fingerprint(model)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    tasks = list(_tasks(instructions))
    if not tasks:
        raise ConfigurationError(f"{instructions}: no instructions to compile")
    for task, instruction in Tqdm.tqdm(tasks, desc="compiling tasks"):
        instance = reader.text_to_instance(
            input="", task=task, **instruction_arguments(instruction)
        )
        reader.apply_token_indexers(instance)
        batch = Batch([instance])
        batch.index_instances(model.vocab)
        instruction_tokens = util.move_to_device(batch.as_tensor_dict()["instruction_tokens"], model._get_prediction_device())
        key, modules = model.compile_instruction(instruction_tokens)
        path = CompiledTask(task, instruction, key, modules, fingerprint).save(output_dir)
        print(f"{task}\t{path}\t{path.stat().st_size} bytes")


def _tasks(instructions: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(task name, JSON-safe instruction description) for each task in the input."""
    path = Path(instructions)
    if path.suffix in (".jsonl", ".txt") and path.is_file():
        for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            location = f"{path}, line {line_number}"
            if path.suffix == ".txt":
                task, separator, text = line.partition("\t")
                if not separator or not text.strip():
                    raise ConfigurationError(f"{location}: expected 'task<TAB>instruction'")
                yield task.strip(), {"instruction": text.strip()}
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConfigurationError(f"{location}: not valid JSON ({error.msg})") from error
            if not isinstance(record, dict) or not isinstance(record.get("instruction"), str) or not record.get("task"):
                raise ConfigurationError(f"{location}: expected an object with string 'task' and 'instruction'")
            yield record["task"], {
                "instruction": record["instruction"],
                "positive_examples": record.get("positive_examples") or [],
            }
        return
    for task_path in expand_file_path(instructions, suffixes=(".json",)):
        task = load_sni_task(task_path)
        yield task.name, sni_task_instruction(task)
