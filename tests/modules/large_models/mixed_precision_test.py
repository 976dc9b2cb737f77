import time

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive

from benchmark.inference import random_sequences, text_field
from benchmark.models import build_checkpoint, build_model
from benchmark.training import TrainingShape
from hint_allennlp.testing.tiny_t5 import build_tiny_t5
from tests import FIXTURES_ROOT, TINY_CAUSAL_LMS
from tests.modules.large_models.checkpointing_test import build

# bf16 keeps 8 bits of mantissa (relative rounding 2^-9 = 0.2% per operation); through the trained
# tiny T5's 2 + 2 layers no logit differs from float32 by more than 1% of the largest logit
# (measured: 0.26 for logits up to 40, 0.035 on average), and the loss by more than 0.2%
# (measured: 0.03%).
LOGITS_TOLERANCE = 0.01
LOSS_TOLERANCE = 2e-3
# After 200 steps on the same batch (loss 26 at the start), the bf16 run's loss is within this much
# of the float32 run's (measured: 0.0077 against 0.0074, the mean of the last 10 steps).
TRAINING_LOSS_MARGIN = 0.1


def lm_head_outputs(model, inputs):
    """The logits [B, o, V] of every call of the T5's output layer during `model(**inputs)`."""
    outputs = []
    handle = model.t5.lm_head.register_forward_hook(
        lambda module, args, output: outputs.append(output)
    )
    try:
        result = model(**inputs)
    finally:
        handle.remove()
    return result, outputs


@pytest.mark.slow
def test_bf16_logits_of_a_trained_model_are_within_tolerance_of_float32(trained_archive):
    model = load_archive(trained_archive).model.eval()
    _, inputs = build("hint")  # a mixed-task batch of the same fixture experiment
    with torch.no_grad():
        expected, (expected_logits, *_) = lm_head_outputs(model, inputs)
        model.mixed_precision = "bf16"
        result, (logits, *generation_logits) = lm_head_outputs(model, inputs)
    # Evaluation and generation both ran in bf16.
    assert logits.dtype == torch.bfloat16 and generation_logits
    assert all(step.dtype == torch.bfloat16 for step in generation_logits)
    assert result["loss"].dtype == torch.float32
    difference = (logits.float() - expected_logits).abs().max().item()
    assert 0 < difference <= LOGITS_TOLERANCE * expected_logits.abs().max().item()
    assert result["loss"].item() == pytest.approx(expected["loss"].item(), rel=LOSS_TOLERANCE)

    # A bf16 training step of HINT: float32 gradients, the generator's included.
    model.train()
    model(**inputs)["loss"].backward()
    generator = [
        parameter
        for name, parameter in model.named_parameters()
        if name.startswith("hypernetwork.")
    ]
    assert generator and all(
        parameter.grad.dtype == torch.float32 for parameter in model.parameters()
    )
    assert all(parameter.grad.abs().sum() > 0 for parameter in generator)


@pytest.fixture(scope="module")
def small_vocabulary_t5(tmp_path_factory):
    """The tiny T5 with one layer per stack and a vocabulary of 512, to keep 400 steps fast."""
    return build_tiny_t5(
        tmp_path_factory.mktemp("t5") / "one_layer",
        FIXTURES_ROOT,
        vocab_size=512,
        num_layers=1,
        num_decoder_layers=1,
    )


def copy_task_losses(checkpoint, mixed_precision, steps, device="cpu"):
    """
    Losses of `steps` Adam steps of the T5 alone (Tk-Instruct: the fewest operations per step, for
    speed) learning to copy 4 of 8 tokens, a batch of 4.
    """
    generator = torch.Generator().manual_seed(0)
    instances = torch.randint(3, 512, (4, 8), generator=generator)
    inputs = {
        "source_tokens": text_field(instances.to(device)),
        "target_tokens": text_field(instances[:, :4].to(device)),
    }
    model = (
        build_model("tk_instruct", checkpoint, mixed_precision=mixed_precision).to(device).train()
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # tensors this small: more threads only add overhead (20x on a busy machine)
    try:
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = model(**inputs)["loss"]
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert all(
        parameter.dtype == torch.float32 for parameter in model.parameters()
    )  # fp32 master weights
    return losses


def check_bf16_training_follows_float32(checkpoint, device="cpu"):
    float32 = copy_task_losses(checkpoint, None, 200, device)
    bf16 = copy_task_losses(checkpoint, "bf16", 200, device)
    assert bf16[-1] < bf16[0] / 10  # it learns
    # The mean of the last 10 steps, as single steps of Adam on one batch can spike.
    assert sum(bf16[-10:]) / 10 == pytest.approx(sum(float32[-10:]) / 10, abs=TRAINING_LOSS_MARGIN)


@pytest.mark.slow
def test_200_bf16_training_steps_reach_the_loss_of_float32(small_vocabulary_t5):
    check_bf16_training_follows_float32(small_vocabulary_t5)


def test_fp16_is_refused_with_the_reason():
    with pytest.raises(ConfigurationError, match="overflow"):
        build("hint", mixed_precision="fp16")
    with pytest.raises(ConfigurationError, match="null"):
        build("hint", mixed_precision="fp8")
    # The decoder-only models too, and the message does not say they are T5s.
    opt = {"type": "instruction_causal_lm", "model_name": str(TINY_CAUSAL_LMS["opt"])}
    with pytest.raises(ConfigurationError, match="refused on every backbone"):
        Model.from_params(vocab=Vocabulary(), params=Params({**opt, "mixed_precision": "fp16"}))
    # AllenNLP's use_amp: the trainer's fp16 autocast around the model.
    model, inputs = build("hint")
    with (
        torch.autocast("cpu", dtype=torch.float16),
        pytest.raises(ConfigurationError, match="use_amp"),
    ):
        model(**inputs)


@pytest.mark.slow
@pytest.mark.cuda
def test_bf16_training_follows_float32_on_cuda(small_vocabulary_t5):
    check_bf16_training_follows_float32(small_vocabulary_t5, "cuda")


@pytest.mark.cuda
def test_bf16_checkpointed_training_step_of_the_small_model_on_cuda(tmp_path):
    """
    One timed optimizer step of the `small` benchmark model, bf16 and checkpointed, on the GPU.
    """
    checkpoint = build_checkpoint("small", tmp_path)
    shape = TrainingShape()
    generator = torch.Generator().manual_seed(0)
    inputs = {
        "source_tokens": text_field(
            random_sequences(shape.batch_size, shape.instance, generator).cuda()
        ),
        "instruction_tokens": text_field(
            random_sequences(shape.batch_size, shape.instruction, generator).cuda()
        ),
        "target_tokens": text_field(
            random_sequences(shape.batch_size, shape.target, generator).cuda()
        ),
    }
    model = (
        build_model("hint", checkpoint, mixed_precision="bf16", gradient_checkpointing=True)
        .cuda()
        .train()
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    for _ in range(2):  # the first step warms up CUDA
        torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model(**inputs)["loss"]
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    print(
        f"small, bf16, checkpointed: one training step of {shape.batch_size} examples in "
        f"{seconds:.3f} s on {torch.cuda.get_device_name()}"
    )
    assert torch.isfinite(loss)
