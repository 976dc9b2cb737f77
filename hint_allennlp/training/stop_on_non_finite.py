"""
Stops a run whose loss or weights stop being finite, naming the step, before a checkpoint or the
archive can hold non-finite weights. AllenNLP's trainer goes on after a diverged step (its own check
raises only for a NaN loss, without saying where) and archives whatever the weights became.
"""

import logging
import math
from typing import Any, Dict, List

import torch
import torch.distributed as dist
from allennlp.common.util import is_distributed
from allennlp.training.callbacks.callback import TrainerCallback
from torch.distributed.tensor import DTensor

logger = logging.getLogger(__name__)

# Non-finite weight tensors named in the message; the count covers the rest.
NAMES_SHOWN = 5


class NonFiniteTrainingError(RuntimeError):
    """The loss or the weights of a run stopped being finite."""


@TrainerCallback.register("stop_on_non_finite")
class StopOnNonFiniteCallback(TrainerCallback):
    """
    Checks, on every worker alike (the verdict is summed over DDP / FSDP workers, so that all of
    them stop at the same step with the same message):

    - the loss of every training batch, as the trainer computes it and before its backward pass, so
      that no update is made from it: free, since the trainer reads the loss anyway (one scalar
      all-reduce per batch when distributed);
    - all weights at the end of every epoch, before the epoch's checkpoint and `best.th` (the
      archive's weights) are written: one read of the weights (each worker its own shard under
      FSDP) per epoch.

    Not every step's weights: reading all of an 11B model's weights at every step would cost a
    full pass over its memory per step for what the next step's loss shows anyway (non-finite
    weights make it non-finite), so a divergence is reported at the step after it; the epoch's
    check catches weights no loss reads (e.g. embeddings of unseen tokens). Checkpoints written
    within an epoch (`checkpointer.save_every_num_batches`) are not checked.

    Raises `NonFiniteTrainingError`, which ends `allennlp train` with a non-zero exit before
    anything is written from the diverged weights.
    """

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary=is_primary, **kwargs)
        # The trainer's own `batch_outputs`, wrapped for this run's trainer only: the callbacks'
        # hooks come after the trainer's NaN check and the loss's use.
        batch_outputs = trainer.batch_outputs

        def batch_outputs_with_finite_loss(batch, for_training: bool) -> Dict[str, torch.Tensor]:
            outputs = batch_outputs(batch, for_training)
            if for_training:
                self._check_loss(trainer, outputs["loss"])
            return outputs

        trainer.batch_outputs = batch_outputs_with_finite_loss

    def on_epoch(
        self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs
    ) -> None:
        names = non_finite_parameters(trainer.model)
        if names:
            total = sum(1 for _ in trainer.model.parameters())
            shown = ", ".join(names[:NAMES_SHOWN]) + (", ..." if len(names) > NAMES_SHOWN else "")
            raise NonFiniteTrainingError(
                f"Training stopped at the end of epoch {epoch} (after optimizer step "
                f"{trainer._total_batches_completed}): {len(names)} of {total} weight tensors are "
                f"not finite ({shown}), though every training loss was. Nothing of this epoch is "
                f"checkpointed or archived. {_advice(trainer)}"
            )

    def _check_loss(self, trainer, loss: torch.Tensor) -> None:
        value = loss.detach().float().sum().item()
        workers_not_finite = _sum_over_workers(0 if math.isfinite(value) else 1, loss.device)
        if workers_not_finite:
            where = (
                f"the training loss is {value}"
                if not is_distributed()
                else f"the training loss is not finite on {workers_not_finite} of "
                f"{dist.get_world_size()} workers (this worker's: {value})"
            )
            raise NonFiniteTrainingError(
                f"Training stopped at epoch {trainer._epochs_completed}, batch "
                f"{trainer._batches_in_epoch_completed + 1} of the epoch (optimizer step "
                f"{trainer._total_batches_completed + 1}): {where}, before its backward pass. "
                f"Nothing of this epoch is checkpointed or archived. {_advice(trainer)}"
            )


def non_finite_parameters(model: torch.nn.Module) -> List[str]:
    """
    The names of the parameters that hold a value that is not finite, on any worker (each checks
    its own shard of a sharded parameter).
    """
    named = list(model.named_parameters())
    if not named:
        return []
    flags = torch.stack(
        [
            ~torch.isfinite(
                parameter.to_local() if isinstance(parameter, DTensor) else parameter.detach()
            ).all()
            for _, parameter in named
        ]
    ).int()  # [P], 1 where this worker's part is not finite
    if is_distributed():
        dist.all_reduce(flags)
    return [name for (name, _), flag in zip(named, flags.tolist()) if flag]


def _sum_over_workers(value: int, device: torch.device) -> int:
    if not is_distributed():
        return value
    total = torch.tensor(value, device=device)
    dist.all_reduce(total)
    return int(total.item())


def _advice(trainer) -> str:
    rates = sorted({group["lr"] for group in trainer.optimizer.param_groups})
    return (
        "A lower learning rate (`trainer.optimizer.lr`, now "
        f"{', '.join(f'{rate:g}' for rate in rates)}) or gradient clipping (`trainer.grad_norm`) "
        "may help."
    )
