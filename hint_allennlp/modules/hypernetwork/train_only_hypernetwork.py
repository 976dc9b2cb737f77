"""
Training the hypernetwork alone, the underlying T5 frozen: the authors' `gins/train_only_hnet.gin`
(allenai/hyper-task-descriptions), which HyperTune's runs include
(`scripts/nat_int/ni_train_htune.sh`, `scripts/pretraining/pretrain_htune.sh`).

That gin trains only the parameters whose names match `.*hyper.*`, the `hyper` module of
`HyperTransformer`: the generator and, where there is one, the separate hyper-encoder
(`hyper/hyper_encoder`, `Hypernet.setup`) and hyper-decoder. Everything else is T5's and frozen:
its encoder and decoder, its LM head, its token embeddings, which the separate hyper-encoder shares
(`HyperEncoder(cfg, self.shared_embedding)`), and, when the hypernetwork encoder is T5's own encoder
(`share_hnet_encoder`), that encoder too. Here a separate instruction encoder that copies the T5
encoder holds a copy of the token embeddings (`Hypernetwork`), which is frozen with T5's so that the
two stay equal, as in the reference (one with new layers, Hypter's, embeds with T5's own).
Parameters that module injection adds to T5 (the prefix gates of `start_as_plain_t5`) are not the
checkpoint's and train.
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
