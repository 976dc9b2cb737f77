"""
Training the hypernetwork alone, the underlying T5 frozen: the generator and a separate instruction
encoder train; T5's checkpoint weights, and the separate encoder's copy of the token embeddings
(kept equal to T5's), do not. Parameters that module injection adds to T5 (the prefix gates of
`start_as_plain_t5`) are not the checkpoint's and train.

Follows allenai/hyper-task-descriptions `gins/train_only_hnet.gin` (what it trains:
docs/fidelity.md, "Generators").
"""

from typing import Iterable, Optional

from allennlp.common.checks import ConfigurationError
from torch import nn

from hint_allennlp.modules.hypernetwork.hypernetwork import Hypernetwork


def freeze_all_but_hypernetwork(
    model: nn.Module,
    t5_checkpoint_parameters: Iterable[nn.Parameter],
    hypernetwork: Optional[Hypernetwork],
) -> None:
    """
    Sets `requires_grad` False on `t5_checkpoint_parameters` (the underlying T5's parameters as
    loaded, before injection) and on the separate instruction encoder's token embeddings, so that
    their gradients are not computed and no optimizer sees them (AllenNLP's trainer optimizes the
    parameters that require gradients). Raises if `model` is left nothing to train.
    """
    for parameter in t5_checkpoint_parameters:
        parameter.requires_grad_(False)
    if hypernetwork is not None and hypernetwork.instruction_encoder is not None:
        hypernetwork.instruction_encoder.get_input_embeddings().requires_grad_(False)
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise ConfigurationError(
            "train_only_hypernetwork leaves this model nothing to train: it has no parameter "
            "generator and no separate instruction encoder, only the frozen T5"
        )
