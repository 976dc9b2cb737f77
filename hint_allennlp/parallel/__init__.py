from hint_allennlp.parallel.sharded_adafactor import ShardedAdafactor  # noqa: F401
from hint_allennlp.parallel.torch_fsdp_accelerator import TorchFsdpAccelerator  # noqa: F401
