"""
Mixed precision of the instruction models (`hint_seq2seq`, `instruction_causal_lm`): bf16
autocast around the whole forward pass (training, evaluation, generation) on the model's device
type, CPU or CUDA. The weights, their gradients and the optimizer state stay float32 (autocast
casts per operation), and bf16 has float32's exponent range, so no loss scaling (GradScaler) is
needed.

fp16 is refused on every backbone, bf16 being the one mixed precision supported: T5 v1.1 /
LM-adapt (the paper's T5 backbones) were trained in bf16 and their feed-forward activations exceed
fp16's range (65504), which turns them into inf and the loss into NaN (a known problem of these
checkpoints in HF transformers). AllenNLP's `use_amp` is fp16 autocast, so it is refused too, when
the model finds itself run under it.
"""

import functools
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from allennlp.common.checks import ConfigurationError

MIXED_PRECISIONS = {"bf16": torch.bfloat16}

FP16_REFUSAL = (
    "fp16 is refused on every backbone (bf16 is the mixed precision supported): T5 v1.1 / LM-adapt "
    "checkpoints, the paper's T5 backbones, were trained in bf16 and their feed-forward "
    "activations overflow fp16's range (max 65504) into inf, so the loss becomes NaN. "
    "Turn off the trainer's `use_amp` (AllenNLP's fp16 autocast) and set the model's "
    '`mixed_precision: "bf16"` instead.'
)


def check_mixed_precision(mixed_precision: Optional[str]) -> None:
    """
    Raises a `ConfigurationError` unless `mixed_precision` is null or a key of `MIXED_PRECISIONS`.
    """
    if mixed_precision == "fp16":
        raise ConfigurationError(FP16_REFUSAL)
    if mixed_precision is not None and mixed_precision not in MIXED_PRECISIONS:
        raise ConfigurationError(
            f"The model's mixed_precision is {mixed_precision!r}; it takes null (float32) "
            f"or one of {sorted(MIXED_PRECISIONS)}"
        )


@contextmanager
def mixed_precision_autocast(
    mixed_precision: Optional[str], device: torch.device
) -> Iterator[None]:
    """
    Autocast to `mixed_precision` on `device`'s type (None: whatever is in effect, refusing fp16).
    """
    if (
        torch.is_autocast_enabled(device.type)
        and torch.get_autocast_dtype(device.type) == torch.float16
    ):
        raise ConfigurationError(FP16_REFUSAL)
    if mixed_precision is None:
        yield
        return
    with torch.autocast(device.type, dtype=MIXED_PRECISIONS[mixed_precision]):
        yield


def in_mixed_precision(forward):
    """
    Runs a model's `forward` under
    `mixed_precision_autocast(model.mixed_precision, model's device)`.
    """

    @functools.wraps(forward)
    def forward_in_mixed_precision(model, *args, **kwargs):
        with mixed_precision_autocast(model.mixed_precision, next(model.parameters()).device):
            return forward(model, *args, **kwargs)

    return forward_in_mixed_precision
