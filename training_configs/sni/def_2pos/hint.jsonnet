// HINT; SNI 'Def + 2 Pos.' (the definition and two positive examples). Paper: Table 1 'HINT
// (ours)'; Table 6 'HINT'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint', positive_examples=2, settings=settings)
