"""
The main job (`make demo`): the paper's comparison in miniature, on the CPU in a few minutes,
through AllenNLP's own functions and the configs in training_configs/demo/ (docs/demo.md), in one
Python process and a second one forked from it, so AllenNLP and torch are imported once:
  1. the instruction suite (`allennlp hint-make-suite`'s function), SNI task files where only the
     instruction decides the answer, and the demo's randomly initialised T5;
  2. HINT, Tk-Instruct and No-Instruct trained on it (`train_model_from_file`, as `allennlp train`;
     each final model is scored on the training tasks' held-out inputs as validation and on the
     unseen tasks as test), and a short HINT run on the fixture SNI tasks, the real format end to
     end; then each model predicts the unseen task files (`allennlp predict`'s functions) at 0 and
     2 positive examples, timed;
  3. the side-by-side table and a plot of quality against inference cost (scripts/demo_summary.py).
Everything is written to output/demo/ (git-ignored): the runs, the full logs, the predictions.

    python scripts/demo.py
"""

import os
import time

STARTED = time.perf_counter()  # the wall time counts the imports too

# One thread per process, set before torch is imported: a tiny model gains little from two, and two
# threads slow down many times over when anything else runs on the machine. The fast tokenizers'
# own threads are off too: the process forks after using them.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import multiprocessing  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, Iterator, List, Optional, Type  # noqa: E402

import demo_summary  # noqa: E402  (scripts/, beside this file)
from allennlp.commands import predict as predict_command  # noqa: E402
from allennlp.commands.subcommand import Subcommand  # noqa: E402
from allennlp.commands.train import train_model_from_file  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from hint_allennlp.commands.make_suite import MakeSuite, make_suite_from_args  # noqa: E402
from hint_allennlp.testing.tiny_t5 import DEMO_T5, build_tiny_t5  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[1]
OUTPUT = Path("output/demo")  # below the repository, where training_configs/demo/ reads from
SUITE = OUTPUT / "suite"
UNSEEN_TASKS = OUTPUT / "unseen_tasks.json"
FIXTURE_EXPERIMENT = "training_configs/tiny/hint_def_2pos.jsonnet"
FIXTURE_STEPS = 20  # enough to take the real format through train and evaluate
TERMINAL = sys.stdout
# allennlp's own log format (allennlp/__main__.py), which the condensed progress reads.
LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s - %(message)s"


class TrainingProgress:
    """
    Condenses the log of a file-friendly training run (one tqdm status line every few seconds) to
    its progress, each line headed by the model's name: the epoch, about every fifth of its batches
    with the running loss, the scores, the time taken.
    """

    EPOCH = re.compile(r"gradient_descent_trainer - Epoch (\d+)/(\d+)$")
    BATCH = re.compile(r"(\d+)/(\d+) \[")

    def __init__(self, model: str, show: Callable[[str], None]) -> None:
        self.model = model
        self.show_line = show
        self.last = ""
        self.validating = False
        self.shown_batch = 0

    def show(self, text: str) -> None:
        if text != self.last:
            self.show_line(f"  {self.model:<12}{text}")
        self.last = text

    @staticmethod
    def value(line: str, name: str) -> str:
        """The number after "<name>: " at the start of the line or after ", "."""
        found = re.search(rf"(?:^|, ){name}: ([0-9.]+)", line)
        return found.group(1) if found else "?"

    def read(self, line: str) -> None:
        epoch = self.EPOCH.search(line)
        if epoch:
            self.shown_batch = 0
            self.show(f"  epoch {int(epoch[1]) + 1} of {int(epoch[2]) + 1}")
        elif line.endswith("gradient_descent_trainer - Validating"):
            self.validating = True
            self.show("  scoring the seen tasks (validation)")
        elif "batch_loss: " in line and "||" in line and not self.validating:
            batch = self.BATCH.search(line)
            done, total = int(batch[1]), int(batch[2])
            if done == total or done - self.shown_batch >= total / 5:
                self.shown_batch = done
                self.show(f"    batch {done}/{total}  loss {self.value(line, 'loss')}")
        elif line.startswith("rougeL: ") and "batch_loss" not in line:
            rouge, exact_match = self.value(line, "rougeL"), self.value(line, "exact_match")
            self.show(f"    RougeL {rouge}  exact match {exact_match} (running average)")
        elif "Epoch duration: " in line:
            self.show("    took " + line.split("Epoch duration: ")[1].split(".")[0])
        elif "Estimated training time remaining" in line:
            self.show("    " + line.rsplit(" - ", 1)[1])
        elif "will be evaluated using" in line:
            self.show("  scoring the unseen tasks (test)")


class _LogStream(io.TextIOBase):
    """Writes to a log file and hands each complete line to `read_line`."""

    def __init__(self, file: io.TextIOBase, read_line: Optional[Callable[[str], None]]) -> None:
        self.file = file
        self.read_line = read_line
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.file.write(text)
        if self.read_line is not None:
            *lines, self.pending = (self.pending + text).split("\n")
            for line in lines:
                self.read_line(line.rstrip())
        return len(text)

    def flush(self) -> None:
        self.file.flush()


@contextlib.contextmanager
def logged_to(path: Path, read_line: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """
    Everything a stage prints or logs goes to its log file, as with the command's output
    redirected: stdout, stderr and the root logger in allennlp's format (`train_model` replaces the
    handlers with its own, also writing to the serialization directory's out.log). Afterwards the
    stage's handlers are closed and the ones from before put back, so the next stage starts clean.
    """
    loggers = [logging.getLogger(), logging.getLogger("tqdm")]
    before = [(logger.handlers[:], logger.level) for logger in loggers]
    with path.open("w") as file, contextlib.ExitStack() as stack:
        stream = _LogStream(file, read_line)
        stack.enter_context(contextlib.redirect_stdout(stream))
        stack.enter_context(contextlib.redirect_stderr(stream))
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        loggers[0].addHandler(handler)
        loggers[0].setLevel(logging.INFO)
        try:
            yield
        except Exception:
            logging.getLogger(__name__).exception("failed")
            raise
        finally:
            for logger, (handlers, level) in zip(loggers, before):
                for stage_handler in set(logger.handlers) - set(handlers):
                    stage_handler.close()
                logger.handlers[:] = handlers
                logger.setLevel(level)


def show(text: str) -> None:
    """To the terminal, also while a stage's output goes to its log."""
    print(text, file=TERMINAL, flush=True)


def failed(log: Path) -> RuntimeError:
    lines = log.read_text().splitlines()[-30:]
    return RuntimeError(f"failed; the end of {log}:\n" + "\n".join(lines))


def command_args(subcommand: Type[Subcommand], *argv: str) -> argparse.Namespace:
    """The arguments as the `allennlp` command parses them, defaults included."""
    command = subcommand()
    parser = argparse.ArgumentParser()
    command.add_subparser(parser.add_subparsers())
    return parser.parse_args([command.name, *argv])


def train(
    model: str, config: str, overrides: Optional[dict] = None, progress: Optional[str] = None
) -> None:
    """`allennlp train` in this process, its progress shown under the name `progress` if given."""
    log = OUTPUT / f"train_{model}.log"
    try:
        with logged_to(log, progress and TrainingProgress(progress, show).read):
            train_model_from_file(
                config,
                str(OUTPUT / model),
                overrides=overrides or "",
                file_friendly_logging=True,
            )
    except Exception as error:
        raise failed(log) from error


def predict(model: str, shots: int) -> float:
    """
    `allennlp predict` with the model at `shots` positive examples, through the command's own
    functions (the plugin's checks and predictor included); returns the wall seconds from the
    loaded model to the written predictions, also written to predict_<model>_<shots>pos.seconds.
    """
    name = f"predict_{model}_{shots}pos"
    log = OUTPUT / f"{name}.log"
    try:
        with logged_to(log):
            args = command_args(
                predict_command.Predict,
                str(OUTPUT / model / "model.tar.gz"),
                str(UNSEEN_TASKS),
                "--silent",
                "--file-friendly-logging",
                "--output-file",
                str(OUTPUT / f"{name}.jsonl"),
                "-o",
                json.dumps({"dataset_reader.num_positive_examples": shots}),
            )
            predictor = predict_command._get_predictor(args)
            loaded = time.perf_counter()
            predict_command._PredictManager(
                predictor,
                args.input_file,
                args.output_file,
                args.batch_size,
                not args.silent,
                args.use_dataset_reader,
                args.multitask_head,
            ).run()
            seconds = time.perf_counter() - loaded
    except Exception as error:
        raise failed(log) from error
    (OUTPUT / f"{name}.seconds").write_text(f"{seconds}\n")
    return seconds


def stage(times: Dict[str, dict], text: str, run: Callable, *args) -> None:
    """Runs a step, `run(*args)`, then shows its wall and CPU time and adds them to `times`."""
    wall, cpu = time.perf_counter(), time.process_time()
    run(*args)
    times[text] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    show(f"  {text}: {times[text]['wall']:.0f} s, CPU {times[text]['cpu']:.0f} s")


def train_and_predict(model: str, name: str, shots: List[int], times: Dict[str, dict]) -> None:
    """One model's training, then its timed predictions."""
    config = f"training_configs/demo/{model}.jsonnet"
    stage(times, f"{name} trained", train, model, config, None, name)
    for count in shots:
        stage(times, f"{name} predicted, {count} positive examples", predict, model, count)


def tk_instruct_process() -> Dict[str, dict]:
    """The second process: Tk-Instruct's training and predictions; returns their times."""
    times: Dict[str, dict] = {}
    train_and_predict("tk_instruct", "Tk-Instruct", [0, 2], times)
    return times


def build_suite_and_t5() -> None:
    with logged_to(OUTPUT / "make_suite.log"):
        make_suite_from_args(command_args(MakeSuite, str(SUITE)))
    with logged_to(OUTPUT / "t5.log"):
        build_tiny_t5(OUTPUT / "t5", REPOSITORY / "fixtures", **DEMO_T5)
    # The unseen tasks' files one after the other, what `allennlp predict` reads.
    unseen = (SUITE / "splits" / "test_tasks.txt").read_text().split()
    UNSEEN_TASKS.write_text(
        "".join((SUITE / "tasks" / f"{task}.json").read_text() for task in unseen)
    )


def main() -> None:
    os.chdir(REPOSITORY)
    # transformers' warnings to the stage's log, as allennlp's: its handler holds the terminal.
    transformers_logging.disable_default_handler()
    transformers_logging.enable_propagation()
    times: Dict[str, dict] = {"imports": {"wall": time.perf_counter() - STARTED}}
    show(f"AllenNLP, torch and transformers imported: {times['imports']['wall']:.0f} s")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True)

    show(f"== 1/3 the instruction suite ({SUITE}) and the demo's T5 ({OUTPUT}/t5)")
    stage(times, "written", build_suite_and_t5)

    # Tk-Instruct, which reads the instruction with every input, trains longest: it gets a process
    # (a core) of its own, forked so it imports nothing again; everything else runs here, one step
    # after another. Each timed prediction runs in a process of one thread while the other process
    # works: with two cores, each has a core to itself.
    show(
        "== 2/3 training Tk-Instruct (a second process), and here HINT, No-Instruct, and HINT on\n"
        f"        the fixture SNI tasks ({FIXTURE_STEPS} steps); then each model predicts the\n"
        f"        unseen tasks at 0 and 2 positive examples, timed (logs: {OUTPUT}/train_*.log,\n"
        f"        {OUTPUT}/predict_*.log)."
    )
    # Leaving the pool ends its process: if a step here fails, Tk-Instruct's training stops too.
    with multiprocessing.get_context("fork").Pool(1) as second:
        tk_instruct = second.apply_async(tk_instruct_process)
        train_and_predict("hint", "HINT", [0, 2], times)
        # It never reads the instruction: positive examples change nothing.
        train_and_predict("no_instruct", "No-Instruct", [0], times)
        stage(
            times,
            "HINT on the fixture SNI tasks trained",
            train,
            "fixture_sni",
            FIXTURE_EXPERIMENT,
            {"trainer.num_epochs": 1, "data_loader.batches_per_epoch": FIXTURE_STEPS},
        )
        times.update(tk_instruct.get())
    show("== 3/3 summary")
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu_seconds = sum(part.ru_utime + part.ru_stime for part in usage)
    wall_seconds = time.perf_counter() - STARTED
    (OUTPUT / "stage_seconds.json").write_text(json.dumps(times, indent=2) + "\n")
    demo_summary.main(OUTPUT, round(wall_seconds), cpu_seconds)


if __name__ == "__main__":
    sys.exit(main())
