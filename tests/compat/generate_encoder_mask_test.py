import torch
from transformers import T5ForConditionalGeneration
from transformers.generation.utils import GenerationMixin

import hint_allennlp  # noqa: F401  (the repairs applied)
from hint_allennlp.compat.generate_encoder_mask import generate_drops_the_encoder_mask
from tests import TINY_T5


def test_the_generate_patch_is_needed_where_the_mask_is_dropped():
    patched = GenerationMixin.prepare_inputs_for_generation
    assert generate_drops_the_encoder_mask(patched.__wrapped__)  # transformers 4.49's own
    assert not generate_drops_the_encoder_mask(patched)

    def keeps_the_mask(self, input_ids, attention_mask=None, **kwargs):
        return {"decoder_input_ids": input_ids, "attention_mask": attention_mask}

    assert not generate_drops_the_encoder_mask(keeps_the_mask)


def test_generate_keeps_the_encoder_mask_of_a_padded_batch():
    # transformers 4.49 drops it (huggingface/transformers#36293): the padded example then differs.
    t5 = T5ForConditionalGeneration.from_pretrained(str(TINY_T5)).eval()
    input_ids = torch.randint(5, 1000, (2, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 6:] = 0
    with torch.no_grad():
        batch = t5.generate(
            input_ids=input_ids, attention_mask=mask, max_new_tokens=8, do_sample=False
        )
        alone = t5.generate(input_ids=input_ids[1:, :6], max_new_tokens=8, do_sample=False)
    assert batch[1, : alone.size(1)].tolist() == alone[0].tolist()
