// Hypter on P3, 'split' (see hint_split.jsonnet). Paper: Table 2 / 9 'Hypter (Split)'.
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('hypter', mode='split', settings=settings)
