// Tk-Instruct; SNI 'Def + 1 Pos.' (the definition and 1 positive examples). Paper: Figure 3
// (centre), RougeL against FLOPs for 0 to 5 positive examples (0: sni/def/, 2: sni/def_2pos/).
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('tk_instruct', positive_examples=1, settings=settings)
