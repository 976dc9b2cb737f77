"""The output dict and metrics contract of `InstructionModel`, which every model keeps."""

from typing import Dict

import torch


def check_output_contract(test_case) -> Dict[str, float]:
    """
    On a `ModelTestCase` set up with a model and its dataset: in evaluation the output has the
    loss, the predictions and their texts, and the metrics have RougeL and exact match; in training
    there are no metrics. The evaluation's metrics, for model-specific checks.
    """
    test_case.model.eval()
    with torch.no_grad():
        output = test_case.model(**test_case.dataset.as_tensor_dict())
    assert set(output) == {"loss", "predictions", "predicted_text"}
    assert len(output["predicted_text"]) == len(test_case.instances)
    metrics = test_case.model.get_metrics(reset=True)
    assert {"rougeL", "exact_match", "flops", "relative_flops"} <= set(metrics)
    test_case.model.train()
    assert test_case.model.get_metrics() == {}  # metrics are of evaluation only
    return metrics
