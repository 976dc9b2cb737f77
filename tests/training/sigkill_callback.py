"""A test-only trainer callback that kills its own process (SIGKILL) at given points of a run."""

import os
import signal

from allennlp.training.callbacks.callback import TrainerCallback

from tests.training.stop_at import StopAt


@TrainerCallback.register("sigkill_at")
class SigkillAt(StopAt):
    """`StopAt` by SIGKILL: the process ends as a preempted job does, with no clean-up."""

    def stop(self, epoch: int, batch_number: int) -> None:
        os.kill(os.getpid(), signal.SIGKILL)
