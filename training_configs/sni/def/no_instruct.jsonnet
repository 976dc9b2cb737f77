// No-Instruct: the instance input alone; SNI 'Def' (the task definition). Paper: Table 1
// 'No-Instruct'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('no_instruct', positive_examples=0, settings=settings)
