"""
Measured cost of HINT against its baselines, run from the project's root as `python -m benchmark`
(`__main__.py`); results and the exact command are in docs/benchmarks.md. They build their random
checkpoints with `hint_allennlp.testing.tiny_t5`, which reads the checkout's fixtures: they are not
part of the installed package.

- `models`: the random-weight T5s that are measured (T5 v1.1-small-sized, the tiny fixture's shape
  and `mini`) and the settings compared on them.
- `timing`: interleaved repeats, wall and CPU time, paired ratios.
- `sni_lengths`: SNI's median lengths (the paper's Table 7), and their measurement on an SNI folder
  (`python -m benchmark.sni_lengths`), which `--sni-lengths` reads.
- `inference`: 100 examples of one task at SNI median lengths for 0..5 shots: HINT, Tk-Instruct and
  the floor; analytic FLOPs beside the times; with `--instruction-window`, many shots past the
  window in chunks.
- `training`: time per optimizer step, HINT against Tk-Instruct, on mixed and on task-grouped
  batches, with analytic training FLOPs.
- `memory`: bytes of a cached task, analytic and measured, against a decoder-only key/value cache
  of the same instruction.
- `training_memory`: measured peak memory of a training step (the analytic plan is
  `hint_allennlp.cost.training_memory`).
- `generalisation`: the paper's Table 1 in miniature (train from a random start, RougeL on held-out
  tasks).
- `table1_flops`: Table 1's "Rel. FLOPs" column in the paper's convention, beside the paper's
  figures (`python -m benchmark.table1_flops`).
- `decoder_only`: HINT against a decoder-only model with and without its instruction key/value
  cache, and Tk-Instruct, at matched parameter counts (`python -m benchmark.decoder_only`).
- `multilingual`: what T5's and the tiny mT5's vocabularies keep of a task in Russian
  (`python -m benchmark.multilingual`).
- `report`: markdown tables, the targets, the figure.
"""
