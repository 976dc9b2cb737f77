// HINT on P3, 'split': the hypernetwork gets the authors' edited prompt, the encoder only the
// instance's fields. Paper: Table 2 / 9 'HINT (Split)'.
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('hint', mode='split', settings=settings)
