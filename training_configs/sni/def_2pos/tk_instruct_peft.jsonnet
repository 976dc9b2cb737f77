// Tk-Instruct + PEFT: as Tk-Instruct, plus learned adapters and prefixes; SNI 'Def + 2 Pos.' (the
// definition and two positive examples). Paper: Table 1 'Tk-Instruct + PEFT'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('tk_instruct_peft', positive_examples=2, settings=settings)
