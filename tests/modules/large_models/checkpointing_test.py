import json

import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.nn.util import move_to_device

from hint_allennlp.modules.large_models.checkpointing import CheckpointedT5Block
from tests.models.hint_seq2seq_test import EXPERIMENT, SETTINGS, SNI_TEST_SPLIT

# The settings the checkpointing must be exact for: every kind of generated module (adapters and
# prefixes, LoRA, Hypter's adapters from a separate instruction encoder), with and without fusion,
# and plain T5 (Tk-Instruct).
CHECKPOINTED_SETTINGS = ["hint", "hint_without_fusion", "hint_lora", "hypter", "tk_instruct"]


def build(setting, device="cpu", **model_overrides):
    """The fixture experiment's model and a mixed-task training batch of `setting`, dropout 0."""
    model_overrides = {"dropout": 0.0, **model_overrides}
    overrides = {
        **SETTINGS[setting],
        **{f"model.{key}": value for key, value in model_overrides.items()},
    }
    params = Params.from_file(str(EXPERIMENT), json.dumps(overrides))
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    model = Model.from_params(vocab=Vocabulary(), params=params.pop("model"))
    instances = list(reader.read(SNI_TEST_SPLIT))
    # Two examples of each of two tasks: the modules are gathered per example.
    tasks = sorted({instance["metadata"]["task"] for instance in instances})[:2]
    chosen = [
        instance for task in tasks for instance in instances if instance["metadata"]["task"] == task
    ][:4]
    assert len({instance["metadata"]["task"] for instance in chosen}) == 2
    batch = Batch(chosen)
    batch.index_instances(Vocabulary())
    return model.to(device).train(), move_to_device(batch.as_tensor_dict(), torch.device(device))


def loss_and_gradients(model, inputs):
    model.zero_grad(set_to_none=True)
    loss = model(**inputs)["loss"]
    loss.backward()
    return loss.detach(), {name: parameter.grad for name, parameter in model.named_parameters()}


def check_checkpointing_is_exact(setting, device="cpu"):
    torch.manual_seed(0)
    plain, inputs = build(setting, device)
    checkpointed, _ = build(setting, device, gradient_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    assert any(isinstance(module, CheckpointedT5Block) for module in checkpointed.modules())
    assert list(dict(checkpointed.named_parameters())) == list(dict(plain.named_parameters()))

    expected_loss, expected = loss_and_gradients(plain, inputs)
    loss, gradients = loss_and_gradients(checkpointed, inputs)

    torch.testing.assert_close(loss, expected_loss, atol=1e-6, rtol=0)
    for name, gradient in expected.items():
        assert gradient is not None, name
        torch.testing.assert_close(gradients[name], gradient, atol=1e-6, rtol=0, msg=name)
    generator = [name for name in expected if name.startswith("hypernetwork.")]
    assert all(gradients[name].abs().sum() > 0 for name in generator)
    return generator


@pytest.mark.parametrize("setting", CHECKPOINTED_SETTINGS)
def test_checkpointing_gives_the_loss_and_every_gradient_of_the_model_without_it(setting):
    generator = check_checkpointing_is_exact(setting)
    assert bool(generator) == (setting != "tk_instruct")


def test_hf_gradient_checkpointing_is_refused():
    # HF's checkpointing recomputes the blocks without the generated modules,
    # a different loss surface with no gradient for the generator. It must not run.
    model, inputs = build("hint")
    model.t5.gradient_checkpointing_enable()
    with pytest.raises(ValueError, match="gradient_checkpointing: true"):
        model(**inputs)
    model.t5.gradient_checkpointing_disable()
    model(**inputs)["loss"].backward()


def test_checkpointed_blocks_are_plain_in_evaluation():
    model, inputs = build("hint", gradient_checkpointing=True)
    plain, _ = build("hint")
    plain.load_state_dict(model.state_dict())
    model.eval()
    plain.eval()
    with torch.no_grad():
        assert model(**inputs)["predicted_text"] == plain(**inputs)["predicted_text"]


@pytest.mark.cuda
@pytest.mark.parametrize("setting", CHECKPOINTED_SETTINGS)
def test_checkpointing_is_exact_on_cuda(setting):
    check_checkpointing_is_exact(setting, device="cuda")
