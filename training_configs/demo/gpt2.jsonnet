// The decoder-only baseline beside the demo's models (not run by `make demo`; docs/demo.md): GPT-2
// 'Def + 2 Pos.' on the instruction suite (suite.libsonnet), from random weights, with the demo's
// budget (600 steps of 64 examples) and appendix D's optimiser at the rate and warmup a random
// start needs. Its checkpoint: `python -m hint_allennlp.testing.tiny_causal_lm gpt2 --demo
// output/demo/gpt2`.
local hint = import '../hint.libsonnet';
local demo = import 'suite.libsonnet';
// The checkpoint's dropout (GPT-2's 0.1): the demo's `dropout` setting is the T5's.
local defaults = demo.settings {
  model_name: hint.repository_path('output/demo/gpt2'),
  warmup_steps: 60,
  dropout: null,
};
function(settings=defaults)
  (import '../sni/def_2pos/gpt2_xl.jsonnet')(settings) {
    validation_data_path: settings.sni_dir + '/held_out_inputs',
    // The recipe trains whole passes over the data; the demo's budget is a number of steps.
    data_loader+: { batches_per_epoch: settings.optimizer_steps },
    trainer+: { optimizer+: { lr: 1e-3 } },
  }
