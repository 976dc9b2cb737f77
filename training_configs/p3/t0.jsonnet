// T0: T5 finetuned on the whole prompt, no hypernetwork. Paper: Table 2 / 9 'T0-3B (our
// replication)' (with `{backbone: 'xl'}`).
local hint = import '../hint.libsonnet';
function(settings={}) hint.p3('tk_instruct', mode='prompt_only', settings=settings)
