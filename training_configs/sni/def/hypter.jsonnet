// Hypter (Ye and Ren, 2021): adapters from the mean-pooled instruction; SNI 'Def' (the task
// definition). Paper: Table 1 'Hypter (our replication)'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('hypter', positive_examples=0, settings=settings)
