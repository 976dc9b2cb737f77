"""
Measured cost of HINT against its baselines, run by `allennlp hint-benchmark`
(`hint_allennlp/commands/benchmark.py`); results and the exact command are in docs/benchmarks.md.

- `checkpoints`: the random-weight T5s that are measured (T5 v1.1-small-sized and the tiny fixture).
- `timing`: interleaved repeats, wall and CPU time, paired ratios.
- `inference`: 100 examples of one task at SNI median lengths for 0..5 shots: HINT, Tk-Instruct and
  the floor; analytic FLOPs beside the times.
- `training`: time per optimizer step, HINT against Tk-Instruct.
- `memory`: bytes of a cached task against a decoder-only key/value cache of the same instruction.
- `generalisation`: the paper's Table 1 in miniature (train from a random start, RougeL on held-out
  tasks).
- `report`: markdown tables, the targets, the figure.
"""
