"""
Makes `allennlp train --recover` continue exactly as the uninterrupted run would have.

AllenNLP's checkpoint holds the weights, the optimizer, the schedulers and the epoch and batch
counters, and on `--recover` it replays the data loader through the epochs (and batches) already
done so that the data loader and readers are where they were. It keeps no random-number state:
the resumed run shuffles its next epoch and draws its dropout masks from whatever state the replay
and the start-up left, so its losses drift from the uninterrupted run's. This callback saves the
states of Python's, NumPy's and torch's generators with each checkpoint and puts them back at the
moment the resumed run starts training again.
"""

import logging
import random
from typing import Any, Dict, Iterator, Optional

import numpy
import torch
from allennlp.training.callbacks.callback import TrainerCallback

logger = logging.getLogger(__name__)

RandomState = Dict[str, Any]


def random_state() -> RandomState:
    """The state of every global generator, in types that `torch.load(weights_only=True)` reads."""
    numpy_kind, numpy_keys, numpy_position, has_gauss, cached_gaussian = numpy.random.get_state()
    state: RandomState = {
        "python": random.getstate(),
        "numpy": {
            "kind": numpy_kind,
            "keys": torch.from_numpy(numpy_keys.astype(numpy.int64)),
            "position": int(numpy_position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: RandomState) -> None:
    python_version, python_internal, python_gauss = state["python"]
    random.setstate((python_version, tuple(python_internal), python_gauss))
    saved_numpy = state["numpy"]
    numpy.random.set_state(
        (
            saved_numpy["kind"],
            saved_numpy["keys"].numpy().astype(numpy.uint32),
            saved_numpy["position"],
            saved_numpy["has_gauss"],
            saved_numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@TrainerCallback.register("exact_resume")
class ExactResumeCallback(TrainerCallback):
    """
    Saves the random-number state with every checkpoint; on `--recover`, restores it so that the
    data order, the dropout masks and hence the losses and weights equal the uninterrupted run's.

    Two states are kept: the one at the start of the current epoch (the data loader shuffles from
    it when the epoch's iteration begins) and the one at the checkpoint. A run resumed at an epoch
    boundary restores the latter before the next epoch's iteration begins; a run resumed inside an
    epoch restores the former when the epoch's (replayed) iteration begins, so that it sees the
    same batches, and the latter just before its first batch that is trained again.

    Exact for single-process training, with `num_workers: 0` or with workers (the data loader's
    order is decided in the main process). Under distributed training only the primary worker's
    states are checkpointed by AllenNLP, so the states are not restored there (logged).

    # Parameters

    serialization_dir : `str`
        Given by AllenNLP.
    """

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self._epoch_start_state: Optional[RandomState] = None
        self._restored: Optional[Dict[str, Any]] = None

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary=is_primary, **kwargs)
        if self._restored is not None and trainer._distributed:
            logger.warning(
                "exact_resume: distributed training, the random-number states are not restored."
            )
            self._restored = None
        trainer.data_loader = _RestoringDataLoader(trainer.data_loader, self)

    def state_dict(self) -> Dict[str, Any]:
        assert self.trainer is not None
        at_checkpoint = random_state()
        at_epoch_boundary = self.trainer._batches_in_epoch_completed == 0
        return {
            "at_checkpoint": at_checkpoint,
            "at_epoch_start": at_checkpoint if at_epoch_boundary else self._epoch_start_state,
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._restored = state_dict

    def _batches_to_iterate(self, trainer) -> Iterator[Any]:
        """What the data loader yields this epoch, restoring the saved states where they apply."""
        resuming = (
            self._restored is not None
            and trainer._epochs_completed == trainer._start_after_epochs_completed
        )
        if resuming:
            set_random_state(self._restored["at_epoch_start"])  # type: ignore[index]
        self._epoch_start_state = random_state()
        batches = iter(trainer.data_loader.wrapped)
        if not resuming:
            yield from batches
            return
        # The trainer skips this many batch groups (of `num_gradient_accumulation_steps` batches).
        skipped = (
            trainer._start_after_batches_in_epoch_completed
            * trainer._num_gradient_accumulation_steps
        )
        for _, batch in zip(range(skipped), batches):
            yield batch
        set_random_state(self._restored["at_checkpoint"])  # type: ignore[index]
        self._restored = None
        logger.info("exact_resume: random-number states restored from the checkpoint.")
        yield from batches


class _RestoringDataLoader:
    """
    The trainer's data loader, iterated through `ExactResumeCallback` (all else passes through).
    """

    def __init__(self, wrapped, callback: ExactResumeCallback) -> None:
        self.wrapped = wrapped
        self._callback = callback

    def __iter__(self):
        return self._callback._batches_to_iterate(self._callback.trainer)

    def __len__(self) -> int:
        return len(self.wrapped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)
