"""
The plugin's `allennlp` subcommands. AllenNLP builds its command line from the plugins it finds in a
plugins file before it reads any argument, so these subcommands exist only where a plugins file
lists `hint_allennlp`; `--include-package hint_allennlp` imports the plugin too late for them.
"""

import logging
import sys

from allennlp.common.plugins import (
    GLOBAL_PLUGINS_FILENAME,
    LOCAL_PLUGINS_FILENAME,
    discover_plugins,
)

from hint_allennlp.commands.compile_tasks import CompileTasks
from hint_allennlp.commands.make_suite import MakeSuite
from hint_allennlp.commands.prepare_p3 import PrepareP3
from hint_allennlp.commands.registered import ListRegistered

logger = logging.getLogger(__name__)

SUBCOMMANDS = ("hint-compile", "hint-make-suite", "hint-p3-prepare", "hint-registered")


def how_subcommands_are_found() -> str:
    """Where AllenNLP looks for the plugin that gives the `hint-*` subcommands, with the line."""
    return (
        f"AllenNLP finds the subcommands {', '.join(SUBCOMMANDS)} only through a plugins file "
        f"holding the line `hint_allennlp`: {LOCAL_PLUGINS_FILENAME} in the working directory, or "
        f"{GLOBAL_PLUGINS_FILENAME} for every directory (`--include-package hint_allennlp` is "
        "read after the command's name, too late for them)."
    )


def note_how_subcommands_are_found(argv=None) -> None:
    """
    When `allennlp ... --include-package hint_allennlp` imports the plugin and no plugins file
    lists it, logs where the `hint-*` subcommands would be found: from this directory they are not.
    """
    argv = sys.argv if argv is None else argv
    if "--include-package" not in argv and not any(
        a.startswith("--include-package=") for a in argv
    ):
        return
    if "hint_allennlp" not in set(discover_plugins()):
        logger.info("hint_allennlp came by --include-package. %s", how_subcommands_are_found())


note_how_subcommands_are_found()
