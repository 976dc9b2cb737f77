// HINT without generated modules: instruction fusion only; SNI 'Def' (the task definition). Paper:
// Table 6 '- PEFT Gen.'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_peft_generation', positive_examples=0, settings=settings)
