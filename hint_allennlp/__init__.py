"""
HINT (Hypernetwork INstruction Tuning) for AllenNLP.

Listed in `.allennlp_plugins`, this package is imported with a plain import, so it imports every
module that registers something.
"""

# First, before any other module of the plugin: the dependencies' noise silenced.
from hint_allennlp import dependency_warnings  # noqa: F401

# isort: split
from hint_allennlp import (
    commands,  # noqa: F401
    evaluation,  # noqa: F401
    metrics,  # noqa: F401
    models,  # noqa: F401
    parallel,  # noqa: F401
    predictors,  # noqa: F401
    training,  # noqa: F401
)
from hint_allennlp.data import dataset_readers, samplers  # noqa: F401
from hint_allennlp.modules.hypernetwork import parameter_generators  # noqa: F401

# isort: split
from hint_allennlp import compat
from hint_allennlp.commands import guards

# Once, before any command runs: AllenNLP repaired on today's stack, then what the plugin adds to
# `allennlp train / predict / evaluate`.
compat.REPAIRS.apply_all()
guards.GUARDS.apply_all()
