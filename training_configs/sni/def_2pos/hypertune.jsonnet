// HyperTune-like (Phang et al., 2022): prefixes from a decoder-style generator; SNI 'Def + 2 Pos.'
// (the definition and two positive examples). Paper: Table 1 'HyperTune'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hypertune', positive_examples=2, settings=settings)
