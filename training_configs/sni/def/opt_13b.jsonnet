// OPT-13B, fully finetuned on the Tk-Instruct prompt, sharded with FSDP2; SNI 'Def' (the task
// definition). Paper: Table 1 'OPT-13B', appendix D.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni_decoder_only('opt_13b', positive_examples=0, settings=settings)
