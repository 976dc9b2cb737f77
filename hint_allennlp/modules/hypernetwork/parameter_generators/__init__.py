from hint_allennlp.modules.hypernetwork.parameter_generators.cross_attention_generator import (
    CrossAttentionGenerator,
)
from hint_allennlp.modules.hypernetwork.parameter_generators.hypertune_generator import (
    HyperTuneGenerator,
)
from hint_allennlp.modules.hypernetwork.parameter_generators.hypter_generator import HypterGenerator
from hint_allennlp.modules.hypernetwork.parameter_generators.learned_generator import LearnedModules
from hint_allennlp.modules.hypernetwork.parameter_generators.parameter_generator import (
    ParameterGenerator,
)
from hint_allennlp.modules.hypernetwork.parameter_generators.text_to_lora_generator import (
    TextToLoraGenerator,
)
