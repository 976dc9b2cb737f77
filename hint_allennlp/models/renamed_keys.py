"""
The models' constructor arguments that were renamed. A config (or the `config.json` of an archive
trained before the rename) that writes the old name still works: the value moves to the new name,
with a warning naming it.
"""

import warnings

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

# old name -> new name
RENAMED_MODEL_KEYS = {"task_module_cache_size": "task_cache_size"}


def rename_deprecated_keys(params: Params, model: str) -> None:
    """Moves each old key of `params` (a model's config) to its new name, warning once for each."""
    for old, new in RENAMED_MODEL_KEYS.items():
        if old not in params:
            continue
        if new in params:
            raise ConfigurationError(
                f"{model}: both `{old}` and `{new}` are set; `{old}` is the old name of "
                f"`{new}`: keep only `{new}`."
            )
        warnings.warn(
            f"{model}: `{old}` is deprecated, renamed `{new}`: write `{new}` in the config "
            "(archives trained with the old name load as they are).",
            FutureWarning,
            stacklevel=2,
        )
        params[new] = params.pop(old)
