"""
Finetuning that starts from a pretraining run's optimizer state as well as its weights, as the
authors' finetuning after hypernetwork pretraining does (allenai/hyper-task-descriptions,
`gins/full_restore.gin`; docs/fidelity.md, "Training"). `pretrained_weights` (an AllenNLP
`model.tar.gz` or `best.th`) holds weights only; the optimizer's state is in the pretraining run's
folder, in its last `training_state_e*_b*.th` (one per worker, `_w<rank>`, when the state is
sharded).
"""

import logging
import os
from typing import Any, Dict, List, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.callbacks.callback import TrainerCallback
from allennlp.training.checkpointer import Checkpointer

from hint_allennlp.parallel.sharded_adafactor import LOCAL_PART, SHAPE

logger = logging.getLogger(__name__)


def expected_state_shapes(parameter: torch.Tensor) -> Dict[str, Tuple[int, ...]]:
    """
    The shapes of the moment tensors an Adafactor (HF's, factored for 2-D and larger) or an Adam
    keeps for `parameter`, by state key.
    """
    shape = tuple(parameter.shape)
    return {
        "exp_avg": shape,
        "exp_avg_sq": shape,
        "exp_avg_sq_row": shape[:-1],
        "exp_avg_sq_col": shape[:-2] + shape[-1:],
    }


def state_shape(value: Any) -> Tuple[int, ...]:
    """A saved state tensor's whole shape (for a sharded one, that of the whole, not the part)."""
    if isinstance(value, dict) and LOCAL_PART in value:
        return tuple(value[SHAPE])
    return tuple(value.shape)


@TrainerCallback.register("restore_pretraining_optimizer")
class RestorePretrainingOptimizerCallback(TrainerCallback):
    """
    When training starts (not when it is recovered: the run's own checkpoint then has the state),
    loads the optimizer state of the last checkpoint in `pretraining_serialization_dir` into the
    trainer's optimizer. The two runs must train the same parameters in the same order (the same
    model, with the same parameters frozen) and keep their state alike (both sharded over as many
    workers, or neither); anything else is refused, naming the parameter.

    In the configs: the `restore_pretraining_optimizer` and `pretraining_serialization_dir` settings
    of `training_configs/hint.libsonnet`, on by default with `pretrained_weights`.

    # Parameters

    serialization_dir : `str`
        Given by AllenNLP (this run's folder).
    pretraining_serialization_dir : `str`
        The pretraining run's folder (`allennlp train -s <folder>`), with its `training_state_*.th`.
    """

    def __init__(self, serialization_dir: str, pretraining_serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self.pretraining_serialization_dir = pretraining_serialization_dir

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary=is_primary, **kwargs)
        if trainer._start_after_epochs_completed or trainer._start_after_batches_in_epoch_completed:
            logger.info("Recovered run: its checkpoint holds the optimizer state.")
            return
        state = self._pretraining_state(trainer)
        self._check_fits(trainer, state)
        trainer.optimizer.load_state_dict(state)
        logger.info("Optimizer state restored from %s.", self.pretraining_serialization_dir)

    def _pretraining_state(self, trainer) -> Dict[str, Any]:
        folder = self.pretraining_serialization_dir
        where = f"restore_pretraining_optimizer: {folder}"
        if not os.path.isdir(folder):
            raise ConfigurationError(
                f"{where} is not a folder: set `pretraining_serialization_dir` to the pretraining "
                "run's folder (`allennlp train -s <folder>`), or `restore_pretraining_optimizer: "
                "false` to start the optimizer afresh"
            )
        checkpointer = Checkpointer(folder)
        checkpointer.state_is_sharded = trainer._checkpointer.state_is_sharded
        latest = checkpointer.find_latest_checkpoint()
        if latest is None or not os.path.isfile(latest[1]):
            sharded = " for this worker (sharded state)" if checkpointer.state_is_sharded else ""
            raise ConfigurationError(
                f"{where} has no training_state_e*_b*.th{sharded}: the pretraining run's optimizer "
                "state is not there (a model.tar.gz holds the weights only). Point "
                "`pretraining_serialization_dir` at the pretraining run's folder, or set "
                "`restore_pretraining_optimizer: false` to start the optimizer afresh"
            )
        training_state = torch.load(latest[1], map_location="cpu", weights_only=False)
        if "optimizer" not in training_state:
            raise ConfigurationError(f"{where}: {latest[1]} holds no optimizer state")
        logger.info("Restoring the optimizer state of %s", latest[1])
        return training_state["optimizer"]

    def _check_fits(self, trainer, state: Dict[str, Any]) -> None:
        names = {id(parameter): name for name, parameter in trainer.model.named_parameters()}
        own: List[torch.Tensor] = [
            parameter for group in trainer.optimizer.param_groups for parameter in group["params"]
        ]
        saved_indices = [index for group in state["param_groups"] for index in group["params"]]
        where = f"restore_pretraining_optimizer: {self.pretraining_serialization_dir}"
        saved_settings = sorted(set(state["param_groups"][0]) - {"params"})
        own_settings = sorted(set(trainer.optimizer.param_groups[0]) - {"params"})
        if saved_settings != own_settings:
            raise ConfigurationError(
                f"{where}: the pretraining run's optimizer is not this run's (its settings "
                f"{saved_settings}, this one's {own_settings}): set the same optimizer, or "
                "`restore_pretraining_optimizer: false`"
            )
        if len(saved_indices) != len(own):
            raise ConfigurationError(
                f"{where}: the pretraining run's optimizer trains {len(saved_indices)} parameters "
                f"and this run's {len(own)}: the runs must train the same model with the same "
                "parameters frozen (or set `restore_pretraining_optimizer: false`)"
            )
        for index, parameter in zip(saved_indices, own):
            expected = expected_state_shapes(parameter)
            for key, value in state["state"].get(index, {}).items():
                if key in expected and state_shape(value) != expected[key]:
                    raise ConfigurationError(
                        f"{where}: the saved optimizer state of parameter {index} ({key} "
                        f"{list(state_shape(value))}) does not fit this run's "
                        f"{names.get(id(parameter), index)} {list(parameter.shape)}: the runs "
                        "must train the same model (or set `restore_pretraining_optimizer: false`)"
                    )
