// Tk-Instruct: the instruction concatenated to every input; SNI 'Def + 2 Pos.' (the definition and
// two positive examples). Paper: Table 1 'Tk-Instruct (our replication)'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('tk_instruct', positive_examples=2, settings=settings)
