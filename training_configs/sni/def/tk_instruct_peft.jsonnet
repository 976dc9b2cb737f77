// Tk-Instruct + PEFT: as Tk-Instruct, plus learned adapters and prefixes; SNI 'Def' (the task
// definition). Paper: Table 1 'Tk-Instruct + PEFT'.
local hint = import '../../hint.libsonnet';
function(settings={}) hint.sni('tk_instruct_peft', positive_examples=0, settings=settings)
