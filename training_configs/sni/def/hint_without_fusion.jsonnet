// HINT without instruction fusion: generated adapters and prefixes only; SNI 'Def' (the task
// definition). Paper: Table 6 '- Instr. Fus.'; Table 4 'HINT - No Instr. Fus.'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion', positive_examples=0, settings=settings)
