// Tk-Instruct: the instruction concatenated to every input; SNI 'Def' (the task definition). Paper:
// Table 1 'Tk-Instruct (our replication)'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('tk_instruct', positive_examples=0, settings=settings)
