// HINT on P3, 'joint': the encoder gets the whole prompt, the hypernetwork the authors' edited
// prompt (fields masked). Paper: Table 2 / 9 'HINT (Joint)'.
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('hint', mode='joint', settings=settings)
