// What the demo's experiments share (`make demo`, docs/demo.md): the settings, the tiny T5 recipe
// (hint.tiny_cpu) on the instruction suite that `allennlp hint-make-suite output/demo/suite` writes
// and the demo's T5 (`python -m hint_allennlp.testing.tiny_t5 --demo output/demo/t5`), and the
// two changes to the paper's recipe.
local hint = import '../hint.libsonnet';
{
  settings: hint.tiny_cpu {
    // Below the repository, from any directory (what scripts/demo.py writes).
    model_name: hint.repository_path('output/demo/t5'),
    sni_dir: hint.repository_path('output/demo/suite'),
    max_instances_per_task: 300,
    optimizer_steps: 600,
    examples_per_step: 64,
    batch_size: 64,
    num_epochs: 1,
    eval_batch_size: 50,
    // No dropout, as the paper's hypernetwork pretraining (gins/pretrain.gin): the demo trains from
    // random weights, where the checkpoint's 0.1 is no help, and drawing its masks was a third of
    // Tk-Instruct's training time on the CPU (the attention weights over its long inputs).
    dropout: 0.0,
    // The longest answer is two words and the end of the sequence: 3 pieces.
    max_decoding_steps: 4,
  },
  // What the demo's GPT-2 (gpt2.jsonnet and the configs built on it) changes in the settings: its
  // checkpoint (`python -m hint_allennlp.testing.tiny_causal_lm gpt2 --demo output/demo/gpt2`), the
  // warmup a random start needs, and the checkpoint's dropout (GPT-2's 0.1: `dropout` is the T5's).
  gpt2_settings: {
    model_name: hint.repository_path('output/demo/gpt2'),
    warmup_steps: 60,
    dropout: null,
  },
  // Adafactor at 20 times the paper's rate: 1e-3 fine-tunes a pretrained T5; from random weights it
  // leaves every model near chance in the steps a demo can afford. And the training tasks' held-out
  // inputs as validation data: after its one epoch, `allennlp train` scores the model on the seen
  // tasks (validation) and on the unseen ones (test), without a process of its own for either.
  experiment(config, settings):: config {
    trainer+: { optimizer+: { lr: 2e-2 } },
    validation_data_path: settings.sni_dir + '/held_out_inputs',
  },
}
