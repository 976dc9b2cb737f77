"""Batch samplers (registered with AllenNLP's `BatchSampler`)."""

from hint_allennlp.data.samplers.task_grouped import TaskGroupedBatchSampler

__all__ = ["TaskGroupedBatchSampler"]
