"""
Inference cost of one task: its `examples` examples at SNI median lengths (`SniShape`: the paper's
Table 7, or those `sni_lengths` measures), for 0..5 shots, the instruction growing by half the
difference between 'Def + 2 Pos.' and 'Def' per shot. Token ids are random (no tokenizer: the cost
depends on lengths only), every instruction and instance ends in EOS, nothing is padded.

What is timed is the model's own evaluation forward (`HintSeq2Seq.forward` without a target, in eval
mode, under `torch.no_grad`) over the task's batches: greedy generation of `output + 1` tokens (the
answer and EOS). EOS is switched off as a stopping criterion so that every setting runs exactly that
many decoder steps whatever its random weights predict.

- HINT: hypernetwork (the T5 encoder on the instruction) + cross-attention generator + fusion. Its
  task-module cache is emptied before each task, so the hypernetwork runs once per task (the
  model deduplicates the instruction within a batch and caches it across the task's batches).
- HINT, task cached: the same model with the task already in its cache (as after `hint-compile`):
  the per-example cost alone.
- floor: the T5 encoder on the instance alone and the decoder over [encoded instruction ; encoded
  instance], with the instruction encoded once per task outside the timing: HINT − PEFT generation
  with the task already in its cache. What HINT would cost without hypernetwork and generated
  modules (the cross-attention keys and values of the instruction are still made once per batch, as
  in HINT).
- Tk-Instruct: plain T5 on instruction and instance concatenated (t + i input tokens).
"""

from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.data import TextFieldTensors

from benchmark.models import BENCHMARK_MODELS, build_model
from benchmark.sni_lengths import PAPER_TABLE_7
from benchmark.timing import Measurement, interleaved, synchronizer
from hint_allennlp.cost.flops import TaskLengths, inference_flops
from hint_allennlp.models.hint_seq2seq import HintSeq2Seq

INFERENCE_SETTINGS = ("hint", "hint_cached", "floor", "tk_instruct")
EOS_ID = 1
FIRST_WORD_ID = 3  # after pad 0, EOS 1, unk 2
LAST_WORD_ID = 32000  # the SentencePiece vocabulary; ids above are T5's sentinels


@dataclass(frozen=True)
class SniShape:
    """
    Median SNI lengths in T5 tokens and the examples per task. The defaults are the paper's
    (`sni_lengths.PAPER_TABLE_7`); `from_medians` takes those that `sni_lengths` measures on an SNI
    folder.
    """

    instance: int = PAPER_TABLE_7["instance"]
    definition: int = PAPER_TABLE_7["definition"]
    definition_two_positives: int = PAPER_TABLE_7["definition_two_positives"]
    output: int = PAPER_TABLE_7["output"]
    examples: int = 100

    @classmethod
    def from_medians(cls, medians: Dict[str, int], examples: int = 100) -> "SniShape":
        """The lengths of `python -m benchmark.sni_lengths --output`'s JSON (other keys ignored)."""
        return cls(
            instance=medians["instance"],
            definition=medians["definition"],
            definition_two_positives=medians["definition_two_positives"],
            output=medians["output"],
            examples=examples,
        )

    def instruction_length(self, shots: int) -> int:
        """Definition + `shots` positive examples, inter- / extrapolated from 0 and 2 shots."""
        per_shot = (self.definition_two_positives - self.definition) / 2
        return round(self.definition + per_shot * shots)

    @property
    def decoding_steps(self) -> int:
        return self.output + 1  # the answer, then EOS

    def lengths(self, shots: int) -> TaskLengths:
        return TaskLengths(
            instruction=self.instruction_length(shots),
            instance=self.instance,
            output=self.decoding_steps,
            examples=self.examples,
        )


def text_field(token_ids: torch.Tensor) -> TextFieldTensors:
    """Token ids [B, n] as the `TextFieldTensors` that a pretrained-transformer indexer produces."""
    return {
        "tokens": {"token_ids": token_ids, "mask": torch.ones_like(token_ids, dtype=torch.bool)}
    }


def random_sequences(rows: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """[rows, length] random word ids, each row ending in EOS."""
    ids = torch.randint(FIRST_WORD_ID, LAST_WORD_ID, (rows, length), generator=generator)
    ids[:, -1] = EOS_ID
    return ids


@dataclass
class TaskBatches:
    """One task's examples in batches, as HINT reads them and as Tk-Instruct reads them."""

    hint: List[Tuple[TextFieldTensors, TextFieldTensors]]  # (instance, instruction) per batch
    tk_instruct: List[
        Tuple[TextFieldTensors, None]
    ]  # (instruction + instance, no instruction field)
    instruction: TextFieldTensors  # [1, t]


def task_batches(
    shape: SniShape, shots: int, batch_size: int, device: torch.device, generator: torch.Generator
) -> TaskBatches:
    instruction = random_sequences(1, shape.instruction_length(shots), generator)  # [1, t]
    instances = random_sequences(shape.examples, shape.instance, generator)  # [n, i]
    hint, tk_instruct = [], []
    for start in range(0, shape.examples, batch_size):
        batch = instances[start : start + batch_size]
        instructions = instruction.expand(batch.size(0), -1)
        hint.append((text_field(batch.to(device)), text_field(instructions.to(device))))
        tk_instruct.append((text_field(torch.cat([instructions, batch], dim=1).to(device)), None))
    return TaskBatches(hint, tk_instruct, text_field(instruction.to(device)))


def run_batches(
    model: HintSeq2Seq,
    batches: Sequence[Tuple[TextFieldTensors, Optional[TextFieldTensors]]],
    steps: int,
):
    with torch.no_grad():
        for source, instruction in batches:
            predictions = model(source_tokens=source, instruction_tokens=instruction)["predictions"]
            if predictions.size(1) != steps:
                raise RuntimeError(f"Expected {steps} generated tokens, got {predictions.size(1)}")


def inference_model(
    setting: str, checkpoint, device: torch.device, steps: int, cached_tasks: int
) -> HintSeq2Seq:
    model = build_model(
        setting, checkpoint, max_decoding_steps=steps, task_module_cache_size=max(16, cached_tasks)
    )
    model.t5.generation_config.eos_token_id = None  # exactly `steps` decoder steps
    return model.to(device).eval()


@dataclass
class InferenceRow:
    """One (shots, setting): timings and analytic FLOPs of one task's examples."""

    shots: int
    instruction_length: int
    setting: str
    measurement: Measurement
    flops: float

    def to_json(self) -> Dict:
        return {
            **{k: v for k, v in asdict(self).items() if k != "measurement"},
            **self.measurement.to_json(),
        }


def analytic_flops(setting: str, model: HintSeq2Seq, lengths: TaskLengths) -> float:
    """
    FLOPs of one task (`hint_allennlp.cost.flops`), with the decoder over `lengths.output` tokens,
    by the model's own instruction handling; a setting with the task cached does not encode the
    instruction at all.
    """
    counts = model.parameter_counts
    flops = inference_flops(model.instruction_handling, counts, lengths)
    if BENCHMARK_MODELS[setting].task_cached:
        flops -= 2 * (
            lengths.instruction * (counts.encoder + counts.generator) + counts.generator_per_task
        )
    return flops


def benchmark_inference(
    checkpoint,
    shots: Sequence[int],
    device: torch.device,
    repeats: int,
    warmup: int = 1,
    batch_size: int = 100,
    shape: SniShape = SniShape(),
    settings: Sequence[str] = INFERENCE_SETTINGS,
    log: Optional[Callable[[str], None]] = None,
) -> List[InferenceRow]:
    """
    Times every (setting, shots) over `repeats` interleaved rounds. Order within a round: the fast
    settings for all shots first, Tk-Instruct (the slow one) last, so that the ratios between the
    fast settings are taken between runs close in time.
    """
    steps = shape.decoding_steps
    models = {
        setting: inference_model(setting, checkpoint, device, steps, len(shots))
        for setting in settings
    }
    generator = torch.Generator().manual_seed(0)
    tasks = {count: task_batches(shape, count, batch_size, device, generator) for count in shots}

    def job(setting: str, count: int) -> Callable[[], None]:
        model, task = models[setting], tasks[count]
        if setting == "tk_instruct":
            return lambda: run_batches(model, task.tk_instruct, steps)
        if not BENCHMARK_MODELS[setting].task_cached:

            def new_task() -> None:
                model.task_parameter_cache.clear()
                run_batches(model, task.hint, steps)

            return new_task
        with torch.no_grad():  # into the cache, untimed
            model.task_parameters(task.instruction)
        return lambda: run_batches(model, task.hint, steps)

    order = [setting for setting in settings if setting != "tk_instruct"] + [
        setting for setting in settings if setting == "tk_instruct"
    ]
    jobs = {(setting, count): job(setting, count) for setting in order for count in shots}
    measurements = interleaved(jobs, repeats, warmup, synchronizer(device), log)
    return [
        InferenceRow(
            count,
            shape.instruction_length(count),
            setting,
            measurements[(setting, count)],
            analytic_flops(setting, models[setting], shape.lengths(count)),
        )
        for count in shots
        for setting in settings
    ]
