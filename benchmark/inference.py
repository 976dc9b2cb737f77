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
  task cache is emptied before each task, so the hypernetwork runs once per task (the
  model deduplicates the instruction within a batch and caches it across the task's batches).
- HINT, task cached: the same model with the task already in its cache (as after `hint-compile`):
  the per-example cost alone.
- floor: the T5 encoder on the instance alone and the decoder over [encoded instruction ; encoded
  instance], with the instruction encoded once per task outside the timing: HINT − PEFT generation
  with the task already in its cache. What HINT would cost without hypernetwork and generated
  modules (the cross-attention keys and values of the instruction are still made once per batch, as
  in HINT).
- Tk-Instruct: plain T5 on instruction and instance concatenated (t + i input tokens).
- HINT − fusion (`hint_without_fusion`, on request): HINT whose decoder does not attend to the
  encoded instruction.

With an `instruction_window` (many shots, past the encoder's window), an instruction longer than
the window reaches HINT in chunks of at most the window, the definition and the shots packed in
order (`instruction_chunk_lengths`, as the readers' `instruction_chunking: "packed"`), each
encoded alone; Tk-Instruct is run only while instruction and instance fit the window together.
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.data import TextFieldTensors

from benchmark.harness import ResultRow
from benchmark.models import BENCHMARK_MODELS, build_model
from benchmark.sni_lengths import PAPER_TABLE_7
from benchmark.timing import Measurement, interleaved, synchronizer
from hint_allennlp.cost.flops import TaskLengths, cached_task_inference_flops, inference_flops
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
        """The lengths of `python -m benchmark sni_lengths --output`'s JSON (other keys ignored)."""
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


def text_field(token_ids: torch.Tensor, mask: Optional[torch.Tensor] = None) -> TextFieldTensors:
    """
    Token ids [B, n] (or chunks [B, C, c]) as the `TextFieldTensors` that a pretrained-transformer
    indexer produces; no padding unless `mask` says so.
    """
    if mask is None:
        mask = torch.ones_like(token_ids, dtype=torch.bool)
    return {"tokens": {"token_ids": token_ids, "mask": mask}}


def instruction_chunk_lengths(shape: SniShape, shots: int, window: Optional[int]) -> List[int]:
    """
    The lengths of the chunks of an instruction of `shots` shots: the definition and each shot
    (`shape`'s lengths) packed in order, a new chunk where the next shot would pass `window`; one
    chunk without a window or when it fits.
    """
    total = shape.instruction_length(shots)
    if window is None or total <= window:
        return [total]
    per_shot = (shape.definition_two_positives - shape.definition) / 2
    chunks = [shape.definition]
    for shot in range(shots):
        # Rounded so that the chunks add up to `instruction_length`.
        length = round(per_shot * (shot + 1)) - round(per_shot * shot)
        if chunks[-1] + length <= window:
            chunks[-1] += length
        else:
            chunks.append(length)
    return chunks


def chunked_instruction(lengths: Sequence[int], generator: torch.Generator) -> TextFieldTensors:
    """One instruction [1, t] of `lengths` [t], or in chunks of `lengths` [1, C, max(lengths)]."""
    if len(lengths) == 1:
        return text_field(random_sequences(1, lengths[0], generator))
    ids = torch.zeros(1, len(lengths), max(lengths), dtype=torch.long)
    for index, length in enumerate(lengths):
        ids[0, index, :length] = random_sequences(1, length, generator)[0]
    return text_field(ids, ids != 0)


def random_sequences(rows: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """[rows, length] random word ids, each row ending in EOS."""
    ids = torch.randint(FIRST_WORD_ID, LAST_WORD_ID, (rows, length), generator=generator)
    ids[:, -1] = EOS_ID
    return ids


@dataclass
class TaskBatches:
    """One task's examples in batches, as HINT reads them and as Tk-Instruct reads them."""

    hint: List[Tuple[TextFieldTensors, TextFieldTensors]]  # (instance, instruction) per batch
    # (instruction + instance, no instruction field) per batch; None past the window
    tk_instruct: Optional[List[Tuple[TextFieldTensors, None]]]
    instruction: TextFieldTensors  # [1, t], or chunks [1, C, c]
    chunks: int


def task_batches(
    shape: SniShape,
    shots: int,
    batch_size: int,
    device: torch.device,
    generator: torch.Generator,
    window: Optional[int] = None,
) -> TaskBatches:
    lengths = instruction_chunk_lengths(shape, shots, window)
    instruction = chunked_instruction(lengths, generator)["tokens"]  # [1, t] or [1, C, c]
    instances = random_sequences(shape.examples, shape.instance, generator)  # [n, i]
    fits = window is None or sum(lengths) + shape.instance <= window
    hint, tk_instruct = [], []
    for start in range(0, shape.examples, batch_size):
        batch = instances[start : start + batch_size]
        rows = (batch.size(0),) + (-1,) * (instruction["token_ids"].dim() - 1)
        instructions = {
            name: tensor.expand(*rows).to(device) for name, tensor in instruction.items()
        }
        hint.append((text_field(batch.to(device)), {"tokens": instructions}))
        if fits:
            concatenated = torch.cat([instruction["token_ids"].expand(*rows), batch], dim=1)
            tk_instruct.append((text_field(concatenated.to(device)), None))
    on_device = {name: tensor.to(device) for name, tensor in instruction.items()}
    return TaskBatches(hint, tk_instruct if fits else None, {"tokens": on_device}, len(lengths))


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
        setting, checkpoint, max_decoding_steps=steps, task_cache_size=max(16, cached_tasks)
    )
    model.t5.generation_config.eos_token_id = None  # exactly `steps` decoder steps
    return model.to(device).eval()


@dataclass
class InferenceRow(ResultRow):
    """One (shots, setting): timings and analytic FLOPs of one task's examples."""

    shots: int
    instruction_length: int
    setting: str
    measurement: Measurement
    flops: float
    instruction_chunks: int = 1


def analytic_flops(setting: str, model: HintSeq2Seq, lengths: TaskLengths) -> float:
    """
    FLOPs of one task (`hint_allennlp.cost.flops`), with the decoder over `lengths.output` tokens,
    by the model's own instruction handling; a setting with the task cached does not encode the
    instruction at all.
    """
    if BENCHMARK_MODELS[setting].task_cached:
        return cached_task_inference_flops(
            model.instruction_handling, model.parameter_counts, lengths
        )
    return inference_flops(model.instruction_handling, model.parameter_counts, lengths)


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
    instruction_window: Optional[int] = None,
) -> List[InferenceRow]:
    """
    Times every (setting, shots) over `repeats` interleaved rounds. Order within a round: the fast
    settings for all shots first, Tk-Instruct (the slow one) last, so that the ratios between the
    fast settings are taken between runs close in time. With `instruction_window`, instructions
    past it reach HINT in chunks and Tk-Instruct is left out where it does not fit (no row).
    """
    steps = shape.decoding_steps
    models = {
        setting: inference_model(setting, checkpoint, device, steps, len(shots))
        for setting in settings
    }
    generator = torch.Generator().manual_seed(0)
    tasks = {
        count: task_batches(shape, count, batch_size, device, generator, instruction_window)
        for count in shots
    }

    def job(setting: str, count: int) -> Callable[[], None]:
        model, task = models[setting], tasks[count]
        if setting == "tk_instruct":
            return lambda: run_batches(model, task.tk_instruct, steps)
        if not BENCHMARK_MODELS[setting].task_cached:

            def new_task() -> None:
                model.task_cache.clear()
                run_batches(model, task.hint, steps)

            return new_task
        with torch.no_grad():  # into the cache, untimed
            model.task_state(task.instruction)
        return lambda: run_batches(model, task.hint, steps)

    order = [setting for setting in settings if setting != "tk_instruct"] + [
        setting for setting in settings if setting == "tk_instruct"
    ]
    jobs = {
        (setting, count): job(setting, count)
        for setting in order
        for count in shots
        if setting != "tk_instruct" or tasks[count].tk_instruct is not None
    }
    measurements = interleaved(jobs, repeats, warmup, synchronizer(device), log)
    return [
        InferenceRow(
            count,
            shape.instruction_length(count),
            setting,
            measurements[(setting, count)],
            analytic_flops(setting, models[setting], shape.lengths(count)),
            tasks[count].chunks,
        )
        for count in shots
        for setting in settings
        if (setting, count) in jobs
    ]
