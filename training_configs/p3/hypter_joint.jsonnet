// Hypter on P3, 'joint' (see hint_joint.jsonnet). Paper: Table 2 / 9 'Hypter (Joint)'.
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('hypter', mode='joint', settings=settings)
