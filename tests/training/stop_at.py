"""The test-only trainer callbacks' shared part: act once at given points of a training run."""

from pathlib import Path
from typing import List

from allennlp.training.callbacks.callback import TrainerCallback


class StopAt(TrainerCallback):
    """
    After training batch `batch` (counting from 1) of epoch `epoch` (from 0), for each `[epoch,
    batch]` in `points`, calls `stop`, once per point: a marker file in the serialization directory
    records that it did, so the resumed run goes on.
    """

    def __init__(self, serialization_dir: str, points: List[List[int]]) -> None:
        super().__init__(serialization_dir)
        self._points = [tuple(point) for point in points]

    def stop(self, epoch: int, batch_number: int) -> None:
        raise NotImplementedError

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
        marker = Path(self.serialization_dir) / f"stopped_at_{epoch}_{batch_number}"
        if not marker.exists():
            marker.touch()
            self.stop(epoch, batch_number)
