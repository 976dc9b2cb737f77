"""transformers 4.49's `generate` on encoder-decoder models and padded batches."""

import functools
from types import SimpleNamespace
from typing import Callable, Optional

import torch
from transformers.generation.utils import GenerationMixin

from hint_allennlp.compat import REPAIRS, patches


def generate_drops_the_encoder_mask(prepare_inputs: Optional[Callable] = None) -> bool:
    """
    Whether `prepare_inputs` (`GenerationMixin.prepare_inputs_for_generation` by default) leaves out
    the encoder's mask of an encoder-decoder model, tried on a stand-in for one. If the stand-in no
    longer suffices (a later transformers), the patch is taken as needed: it only adds a missing
    mask.
    """
    prepare_inputs = prepare_inputs or GenerationMixin.prepare_inputs_for_generation

    class EncoderDecoder:
        _supports_cache_class = False
        config = SimpleNamespace(is_encoder_decoder=True)

        def forward(self, decoder_input_ids=None, attention_mask=None):
            """The signature `prepare_inputs_for_generation` inspects."""

    try:
        model_inputs = prepare_inputs(
            EncoderDecoder(),
            torch.zeros(1, 1, dtype=torch.long),
            attention_mask=torch.ones(1, 3, dtype=torch.long),
        )
    except Exception:  # noqa: BLE001 (any failure of the stand-in: apply the patch)
        return True
    return "attention_mask" not in model_inputs


@REPAIRS.patch(
    "transformers 4.49 (huggingface/transformers#36293, fixed in 4.50)",
    needed=generate_drops_the_encoder_mask,
)
def keep_encoder_mask_in_generate() -> None:
    """
    transformers 4.49's `GenerationMixin.prepare_inputs_for_generation` takes the encoder's
    `attention_mask` as a parameter and, for encoder-decoder models, never passes it on: `generate`
    on a padded batch lets the decoder cross-attend to padding, so an example's output depends on
    its batch (huggingface/transformers#36293, fixed in 4.50, which AllenNLP cannot import). The
    mask is put back when the model inputs lack it; on versions without the bug this changes
    nothing.
    """
    prepare_inputs = GenerationMixin.prepare_inputs_for_generation

    @patches.mark
    @functools.wraps(prepare_inputs)
    def prepare_inputs_with_encoder_mask(self, *args, attention_mask=None, **kwargs):
        model_inputs = prepare_inputs(self, *args, attention_mask=attention_mask, **kwargs)
        if self.config.is_encoder_decoder and attention_mask is not None:
            model_inputs.setdefault("attention_mask", attention_mask)
        return model_inputs

    GenerationMixin.prepare_inputs_for_generation = prepare_inputs_with_encoder_mask
