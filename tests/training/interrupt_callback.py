"""
A test-only trainer callback that interrupts training (raises `TrainingInterrupted`) at given
points of a run, for resumption checks that need no fresh process.
"""

from allennlp.training.callbacks.callback import TrainerCallback

from tests.training.stop_at import StopAt


class TrainingInterrupted(Exception):
    pass


@TrainerCallback.register("interrupt_at")
class InterruptAt(StopAt):
    """`StopAt` by raising `TrainingInterrupted` in the training process."""

    def stop(self, epoch: int, batch_number: int) -> None:
        raise TrainingInterrupted(f"at epoch {epoch}, batch {batch_number}")
