"""
What every benchmark of `python -m benchmark` shares, beside the timing (`timing.py`): the command
line recorded with the results, the progress log, the machine line and the report files (markdown
with the command and machine, and JSON), and the rows of results tables.
"""

import datetime
import json
import platform
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Sequence

import torch

PROGRAM = "python -m benchmark"


def command_line(arguments: Sequence[str]) -> str:
    """The command that reproduces a run: `python -m benchmark` and its arguments, quoted."""
    return " ".join([PROGRAM, *(shlex.quote(argument) for argument in arguments)])


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def machine_description() -> Dict[str, str]:
    description = {
        "date": f"{datetime.date.today()}",
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "cpu": _cpu_name(),
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        description["gpu"] = torch.cuda.get_device_name(0)
    return description


def machine_line(machine: Dict[str, str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in machine.items())


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_report(path: Path, title: str, command: str, body: str, data: Dict) -> None:
    """
    Writes `body` (markdown) under `title`, the command and the machine to `path`.md, and `data`
    with the command to `path`.json.
    """
    line = machine_line(machine_description())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".md").write_text(
        f"# {title}\n\nCommand: `{command}`\n\nMachine: {line}\n\n{body}\n"
    )
    path.with_suffix(".json").write_text(json.dumps({"command": command, **data}, indent=2))
    log(f"results written to {path}.md and {path.name}.json")


class ResultRow:
    """
    A row of a results table (a dataclass): `to_json` gives its fields, with the wall and CPU
    seconds of its `measurement` (`timing.Measurement`) in place of that field, if it has one.
    """

    def to_json(self) -> Dict:
        fields = asdict(self)
        measurement = fields.pop("measurement", {})
        return {**fields, **measurement}
