// HINT without generated modules: instruction fusion only; SNI 'Def + 2 Pos.' (the definition and
// two positive examples). Paper: Table 6 '- PEFT Gen.'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_peft_generation', positive_examples=2, settings=settings)
