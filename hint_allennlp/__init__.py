"""
HINT (Hypernetwork INstruction Tuning) for AllenNLP.

Listed in `.allennlp_plugins`, this package is imported with a plain import, so it imports every
module that registers something.
"""
from hint_allennlp import compat  # noqa: F401  (must come first: repairs AllenNLP on today's stack)
from hint_allennlp.data import dataset_readers  # noqa: F401
from hint_allennlp import metrics  # noqa: F401
from hint_allennlp import evaluation  # noqa: F401
from hint_allennlp.modules.hypernetwork import parameter_generators  # noqa: F401
from hint_allennlp import models  # noqa: F401
from hint_allennlp import parallel  # noqa: F401
from hint_allennlp import predictors  # noqa: F401
from hint_allennlp import training  # noqa: F401
from hint_allennlp import commands  # noqa: F401
