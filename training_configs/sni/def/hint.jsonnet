// HINT; SNI 'Def' (the task definition). Paper: Table 1 'HINT (ours)'; Table 6 'HINT'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hint', positive_examples=0, settings=settings)
