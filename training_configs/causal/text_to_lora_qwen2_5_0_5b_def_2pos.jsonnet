// Text-to-LoRA on Qwen2.5-0.5B, SNI 'Def + 2 Pos.' (docs/causal_hint.md): LoRA (r = 8, alpha =
// 16, on q, k, v, o) generated from the instruction by the `text_to_lora` generator, the prompt
// without the instruction, with the fine-tuned decoder-only baseline's recipe.
local hint = import '../hint.libsonnet';
function(settings={}) hint.sni_decoder_only(
  'qwen2_5_0_5b',
  positive_examples=2,
  settings=settings,
  model=hint.generated_modules('text_to_lora')
) + hint.text_to_lora_experiment
