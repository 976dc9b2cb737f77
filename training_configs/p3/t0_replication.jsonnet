// The T0 replication of the paper's appendix E: T0 trained for 20,000 steps of 2,048 examples
// (inputs up to 1,024 tokens, targets 256, Adafactor at 1e-3). Paper: Table 10 / Figure 5
// 'T0-3B (ours)' with `{backbone: 'xl'}`, 'T0-11B (ours)' with `{backbone: 'xxl'}`.
local t0 = import 't0.jsonnet';
function(settings={}) t0({ optimizer_steps: 20000 } + settings)
