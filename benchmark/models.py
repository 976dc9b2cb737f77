"""
What the benchmarks measure: random-weight T5 checkpoints of a few shapes, and the `hint_seq2seq`
settings compared on them: the paper's models (`hint_allennlp/models/paper_variants.json`), HINT and
its floor also with the task already cached.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Union

import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model

from hint_allennlp.models.hint_seq2seq import HintSeq2Seq
from hint_allennlp.models.paper_variants import BACKBONES, PAPER_VARIANTS, PaperVariant
from hint_allennlp.testing.tiny_t5 import build_tiny_t5

# The checkout's fixtures: the tokenizers and the tiny checkpoints the benchmarks build on.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# `build_tiny_t5` overrides (gated GELU, untied embeddings, vocabulary 32128 in every shape).
MODEL_SHAPES: Dict[str, Dict[str, Any]] = {
    # T5 v1.1 small (google/t5-small-lm-adapt), its shape as `paper_variants.json` has it.
    "small": BACKBONES["small"].t5_config_overrides(),
    # The test fixture (fixtures/tiny-t5): `hint_allennlp.testing.tiny_t5`'s shape.
    "tiny": {},
    # Between the two, small enough to train three models from a random start on CPU in minutes
    # (the generalisation run).
    "mini": dict(d_model=128, d_kv=32, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4),
}

# Generated modules: the paper's setting for T5 small (and Table 5's LoRA rank), in every shape.
GENERATED_MODULE_SIZES: Dict[str, int] = BACKBONES["small"].module_sizes()


@dataclass(frozen=True)
class BenchmarkModel:
    """
    A model the benchmarks run: a model of the paper (`paper_variants`), and whether the task's
    instruction is already in its task cache (as after `hint-compile`, or an earlier batch)
    when the task's examples are timed.
    """

    name: str
    label: str
    variant: PaperVariant
    task_cached: bool = False


BENCHMARK_MODELS: Dict[str, BenchmarkModel] = {
    model.name: model
    for model in (
        *(
            BenchmarkModel(variant.name, variant.label, variant)
            for variant in PAPER_VARIANTS.values()
        ),
        BenchmarkModel(
            "hint_cached", "HINT, task cached", PAPER_VARIANTS["hint"], task_cached=True
        ),
        # HINT − PEFT generation with the task's encoded instruction already in its task-module
        # cache: the floor of the inference benchmark.
        BenchmarkModel(
            "floor", "floor", PAPER_VARIANTS["hint_without_peft_generation"], task_cached=True
        ),
    )
}


def build_checkpoint(shape: str, directory: Union[str, Path], seed: int = 0) -> Path:
    """
    Saves a random T5 of `shape` (a `MODEL_SHAPES` key) to `directory / shape` and returns that
    path.
    """
    if shape not in MODEL_SHAPES:
        raise ValueError(f"Unknown model shape {shape!r}; choose from {sorted(MODEL_SHAPES)}")
    return build_tiny_t5(Path(directory) / shape, FIXTURES, seed=seed, **MODEL_SHAPES[shape])


def model_params(setting: str, checkpoint: Union[str, Path], **overrides) -> Dict[str, Any]:
    """The `hint_seq2seq` config of `setting` on `checkpoint`, as a plain dict."""
    arguments = BENCHMARK_MODELS[setting].variant.model_arguments(**GENERATED_MODULE_SIZES)
    return {"type": "hint_seq2seq", "model_name": str(checkpoint), **arguments, **overrides}


def build_model(
    setting: str, checkpoint: Union[str, Path], seed: int = 0, **overrides
) -> HintSeq2Seq:
    """The model of `setting`; the T5 weights are the checkpoint's, the generator's are seeded."""
    torch.manual_seed(seed)
    return Model.from_params(
        vocab=Vocabulary(), params=Params(model_params(setting, checkpoint, **overrides))
    )
