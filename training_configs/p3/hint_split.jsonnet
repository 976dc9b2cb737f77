// HINT on P3, 'split': the hypernetwork gets the template without the instance, the encoder only
// the instance fields. Paper: Table 2 'HINT (Split)'.
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('hint', mode='split', settings=settings)
