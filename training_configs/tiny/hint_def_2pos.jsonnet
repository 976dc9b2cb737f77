// The demo (`make demo`): HINT 'Def + 2 Pos.' with the tiny T5 on the fixture SNI tasks, on
// the CPU.
local hint = import '../hint.libsonnet';
(import '../sni/def_2pos/hint.jsonnet')(hint.tiny_cpu)
