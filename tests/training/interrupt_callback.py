"""
A test-only trainer callback that interrupts training (raises `TrainingInterrupted`) at given
points of a run, for resumption checks that need no fresh process.
"""

from pathlib import Path
from typing import List

from allennlp.training.callbacks.callback import TrainerCallback


class TrainingInterrupted(Exception):
    pass


@TrainerCallback.register("interrupt_at")
class InterruptAt(TrainerCallback):
    """
    After training batch `batch` (counting from 1) of epoch `epoch` (from 0), for each `[epoch,
    batch]` in `points`, raises `TrainingInterrupted`, once per point: a marker file in the
    serialization directory records that it did, so the resumed run goes on.
    """

    def __init__(self, serialization_dir: str, points: List[List[int]]) -> None:
        super().__init__(serialization_dir)
        self._points = [tuple(point) for point in points]

    def on_batch(
        self,
        trainer,
        batch_inputs,
        batch_outputs,
        batch_metrics,
        epoch,
        batch_number,
        is_training,
        is_primary=True,
        batch_grad_norm=None,
        **kwargs,
    ) -> None:
        if not is_training or (epoch, batch_number) not in self._points:
            return
        marker = Path(self.serialization_dir) / f"interrupted_at_{epoch}_{batch_number}"
        if not marker.exists():
            marker.touch()
            raise TrainingInterrupted(f"at epoch {epoch}, batch {batch_number}")
