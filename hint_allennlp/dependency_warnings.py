"""
Warnings that a dependency prints on every run and that a user of this plugin can do nothing about,
silenced exactly: each filter names the message, the category and the module the warning is
attributed to, so that the same warning from anywhere else, and every other warning, still shows.
Importing `hint_allennlp` installs them, before anything else of the plugin.

(`pkg_resources`' deprecation UserWarning is not among them: AllenNLP imports allennlp-models, which
imports `pkg_resources`, before it imports any plugin, so no filter of a plugin comes in time.
requirements.txt keeps setuptools below 80.9, where it is a DeprecationWarning, hidden by default:
docs/installation.md.)
"""

import warnings


def silence_dependency_warnings() -> None:
    # AllenNLP's trainer enters `torch.cuda.amp.autocast(use_amp)` for every training and
    # validation batch, also with amp off (this plugin refuses `use_amp`; bf16 is its own autocast),
    # and torch >= 2.4 deprecates that spelling with a FutureWarning.
    warnings.filterwarnings(
        "ignore",
        message=r"`torch\.cuda\.amp\.autocast\(args\.\.\.\)` is deprecated",
        category=FutureWarning,
        module=r"allennlp\.training\.gradient_descent_trainer",
    )


silence_dependency_warnings()
