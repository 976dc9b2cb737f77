// GPT-2 XL (1.5B), fully finetuned on the Tk-Instruct prompt; SNI 'Def' (the task definition).
// Paper: Table 1 'GPT-2 XL', appendix D.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni_decoder_only('gpt2_xl', positive_examples=0, settings=settings)
