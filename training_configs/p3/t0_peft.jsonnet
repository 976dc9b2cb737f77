// T0 + PEFT: T0 with learned adapters and prefixes of HINT's sizes. Paper: Table 2 / 9
// 'T0-3B + PEFT'.
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('tk_instruct_peft', mode='prompt_only', settings=settings)
