from typing import Dict, List, Sequence, Union

from allennlp.training.metrics.metric import Metric

from hint_allennlp.cost.flops import (
    DecoderOnlyCounts,
    ParameterCounts,
    TaskLengths,
    check_instruction_handling,
    inference_flops,
)
from hint_allennlp.metrics.grouped_sums import ALL_INSTANCES, GroupedSums


@Metric.register("inference_flops")
class InferenceFlops(Metric):
    """
    Analytic inference FLOPs (`hint_allennlp.cost.flops`) of the examples evaluated so far, with
    the instruction encoded once per distinct task for the hypernetwork variants, as the paper
    counts them (appendix C.1). Keys:

    - `flops`: FLOPs of the configured model on these examples;
    - `relative_flops`: `flops` over what Tk-Instruct with the same T5 (no modules, no generator)
      spends on the same examples, with the instruction concatenated to every input (for a
      decoder-only model: the same model without its key/value cache). The paper's Table 1 instead
      divides by base-size Tk-Instruct.

    A task's examples are one group however the batches split them; if its instruction length
    varies, the hypernetwork is charged the mean length once. Under distributed training all workers
    report the totals over all of them (a task seen by several workers still counts once).

    # Parameters

    parameters : `ParameterCounts` or `DecoderOnlyCounts`
        The model's weights by what they process; usually
        `ParameterCounts.from_t5_config(t5.config, inserted_modules_config, generator=N')`, or
        `DecoderOnlyCounts.from_model(causal_lm)`.
    instruction_handling : `str`, optional (default = `"hypernetwork_with_fusion"`)
        How the model gets the instruction; see `hint_allennlp.cost.flops.inference_flops`.
    """

    supports_distributed = True

    def __init__(
        self,
        parameters: Union[ParameterCounts, DecoderOnlyCounts],
        instruction_handling: str = "hypernetwork_with_fusion",
    ) -> None:
        check_instruction_handling(instruction_handling)
        self.parameters = parameters
        self.instruction_handling = instruction_handling
        self._tk_instruct_parameters = parameters.reference()
        self._lengths = GroupedSums(("instruction", "instance", "output"))

    def __call__(  # type: ignore[override]
        self,
        tasks: List[str],
        instruction_lengths: Sequence[int],
        input_lengths: Sequence[int],
        output_lengths: Sequence[int],
    ) -> None:
        """
        # Parameters

        tasks : `List[str]`
            Each example's task; the instruction is counted once per task.
        instruction_lengths : `Sequence[int]`
            Tokens of each example's instruction, as the hypernetwork gets it and as Tk-Instruct
            would prepend it; also for models that do not use it (it is the reference's cost). A
            model whose input already holds the instruction passes 0 here and the whole input below.
        input_lengths : `Sequence[int]`
            Tokens of each example's input without the instruction (not counting padding).
        output_lengths : `Sequence[int]`
            Tokens the decoder produces or scores for each example.
        """
        if not len(tasks) == len(instruction_lengths) == len(input_lengths) == len(output_lengths):
            raise ValueError("Expected one task, instruction, input and output length per example.")
        if not all(tasks):
            raise ValueError(
                "Every example needs a task name: the instruction is charged once per task."
            )
        self._lengths.add(list(zip(instruction_lengths, input_lengths, output_lengths)), tasks)

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        flops = tk_instruct_flops = 0.0
        for group, (count, sums) in self._lengths.totals.items():
            if group == ALL_INSTANCES:
                continue
            task_lengths = TaskLengths(
                instruction=sums["instruction"] / count,
                instance=sums["instance"] / count,
                output=sums["output"] / count,
                examples=count,
            )
            flops += inference_flops(self.instruction_handling, self.parameters, task_lengths)
            tk_instruct_flops += inference_flops(
                "concatenated", self._tk_instruct_parameters, task_lengths
            )
        if reset:
            self.reset()
        return {
            "flops": flops,
            "relative_flops": flops / tk_instruct_flops if tk_instruct_flops else 0.0,
        }

    def reset(self) -> None:
        self._lengths.reset()
