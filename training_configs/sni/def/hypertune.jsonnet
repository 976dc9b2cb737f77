// HyperTune-like (Phang et al., 2022): prefixes from a decoder-style generator; SNI 'Def' (the task
// definition). Paper: Table 1 'HyperTune'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hypertune', positive_examples=0, settings=settings)
