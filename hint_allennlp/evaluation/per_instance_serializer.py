import json
from typing import Any, Callable, Dict, Optional

from allennlp.data import DataLoader
from allennlp.evaluation.serializers.serializers import Serializer


@Serializer.register("per_instance")
class PerInstanceSerializer(Serializer):
    """
    Writes `allennlp evaluate --predictions-output-file` as one JSON line per instance,
    `{"task", "id", "input", "prediction", "references"}` (plus `"choice"`, the predicted answer
    index, for rank classification), instead of AllenNLP's one line per batch of tensors.
    """

    def __call__(
        self,
        batch: Dict[str, Any],
        output_dict: Dict,
        data_loader: DataLoader,
        output_postprocess_function: Optional[Callable] = None,
    ) -> str:
        if output_postprocess_function is not None:
            output_dict = output_postprocess_function(output_dict)
        lines = []
        for index, (metadata, prediction) in enumerate(
            zip(batch["metadata"], output_dict["predicted_text"])
        ):
            line = {
                "task": metadata.get("task"),
                "id": metadata.get("id"),
                "input": metadata.get("input"),
                "prediction": prediction,
                "references": metadata.get("references", []),
            }
            if "predicted_choice" in output_dict:
                line["choice"] = int(output_dict["predicted_choice"][index])
            lines.append(json.dumps(line, ensure_ascii=False))
        return "\n".join(lines)
