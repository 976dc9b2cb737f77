"""
Measured cost of HINT against its baselines, one command run from the project's root,
`python -m benchmark SUBCOMMAND` (`__main__.py`; each subcommand is the module of its name, with
`add_arguments` and `run`); results and the exact commands are in docs/benchmarks.md. They build
their random checkpoints from the checkout's fixtures (`models.FIXTURES`): they are not part of
the installed package.

- `harness`: what every benchmark shares: the recorded command, the log, the machine line, the
  report files, the rows of results tables.
- `timing`: interleaved repeats, wall and CPU time, paired ratios.
- `cost` (subcommand): the parts below on the models of `models`, or `--generalisation`, or
  `--training-memory`.
- `models`: the random-weight T5s that are measured (T5 v1.1-small-sized, the tiny fixture's shape
  and `mini`) and the settings compared on them.
- `sni_lengths` (subcommand): SNI's median lengths (the paper's Table 7), and their measurement on
  an SNI folder, which `cost --sni-lengths` reads.
- `inference`: 100 examples of one task at SNI median lengths for 0..5 shots: HINT, Tk-Instruct and
  the floor; analytic FLOPs beside the times; with `--instruction-window`, many shots past the
  window in chunks.
- `training`: time per optimizer step, HINT against Tk-Instruct, on mixed and on task-grouped
  batches, with analytic training FLOPs.
- `memory`: bytes of a cached task, analytic and measured, against a decoder-only key/value cache
  of the same instruction.
- `training_memory` (subcommand, run by `cost --training-memory`): measured peak memory of a
  training step; `training_memory_plan` (subcommand): the analytic plan of
  docs/training_large_models.md.
- `generalisation`: the paper's Table 1 in miniature (train from a random start, RougeL on held-out
  tasks).
- `table1_flops` (subcommand): Table 1's "Rel. FLOPs" column in the paper's convention, beside the
  paper's figures.
- `decoder_only` (subcommand): HINT against a decoder-only model with and without its instruction
  key/value cache, and Tk-Instruct, at matched parameter counts.
- `causal_hint` (subcommand): HINT on a causal LM beside the decoder-only ways of reading an
  instruction.
- `multilingual` (subcommand): what T5's and the tiny mT5's vocabularies keep of a task in Russian.
- `report`: markdown tables, the targets, the figure.
"""
