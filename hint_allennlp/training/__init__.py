from hint_allennlp.training.exact_resume import ExactResumeCallback
from hint_allennlp.training.restore_pretraining_optimizer import (
    RestorePretrainingOptimizerCallback,
)
from hint_allennlp.training.stop_on_non_finite import StopOnNonFiniteCallback
