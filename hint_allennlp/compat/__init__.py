"""
Repairs of the dependencies on the stack this plugin supports (Python 3.11, torch 2.x,
transformers 4.46-4.49): AllenNLP's last release predates these versions. Each repair is a module
here; it names the break it repairs and the versions it is for, says whether this stack has the
break (`needed`: from the versions, or by trying the behaviour), and is tested in `tests/compat/`.
They change no behaviour that AllenNLP documents; what this plugin adds to `allennlp train /
predict / evaluate` is in `hint_allennlp.commands.guards`. The plugin's `__init__` applies both.
"""

from hint_allennlp.compat.patches import Patches

REPAIRS = Patches()

# isort: split
# Each registers its repair; they are independent of each other.
from hint_allennlp.compat import (  # noqa: E402
    generate_encoder_mask,  # noqa: F401
    node_archive,  # noqa: F401
    tokenizer_kwargs,  # noqa: F401
)
