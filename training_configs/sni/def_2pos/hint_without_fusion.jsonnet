// HINT without instruction fusion: generated adapters and prefixes only; SNI 'Def + 2 Pos.' (the
// definition and two positive examples). Paper: Table 6 '- Instr. Fus.'; Table 4 'HINT - No Instr.
// Fus.'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint_without_fusion', positive_examples=2, settings=settings)
