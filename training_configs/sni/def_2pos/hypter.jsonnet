// Hypter (Ye and Ren, 2021): adapters from the mean-pooled instruction; SNI 'Def + 2 Pos.' (the
// definition and two positive examples). Paper: Table 1 'Hypter (our replication)'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hypter', positive_examples=2, settings=settings)
