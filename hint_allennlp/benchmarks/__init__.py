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
- `table1_flops`: Table 1's "Rel. FLOPs" column in the paper's convention, beside the paper's
  figures (`python -m hint_allennlp.benchmarks.table1_flops`).
- `decoder_only`: HINT against a decoder-only model with and without its instruction key/value
  cache, and Tk-Instruct, at matched parameter counts
  (`python -m hint_allennlp.benchmarks.decoder_only`).
- `report`: markdown tables, the targets, the figure.
"""
