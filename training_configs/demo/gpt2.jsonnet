// The decoder-only baseline beside the demo's models (not run by `make demo`; docs/demo.md): GPT-2
// 'Def + 2 Pos.' on the instruction suite (suite.libsonnet), from random weights, with the demo's
// budget (600 steps of 64 examples) and appendix D's optimiser at the rate and warmup a random
// start needs. Its checkpoint: `python -m hint_allennlp.testing.tiny_causal_lm gpt2 --demo
// output/demo/gpt2`.
local demo = import 'suite.libsonnet';
function(settings=demo.settings + demo.gpt2_settings)
  (import '../sni/def_2pos/gpt2_xl.jsonnet')(settings) {
    validation_data_path: settings.sni_dir + '/held_out_inputs',
    // The recipe trains whole passes over the data; the demo's budget is a number of steps.
    data_loader+: { batches_per_epoch: settings.optimizer_steps },
    trainer+: { optimizer+: { lr: 1e-3 } },
  }
