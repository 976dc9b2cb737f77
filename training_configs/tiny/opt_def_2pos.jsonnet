// The OPT-13B experiment ('Def + 2 Pos.') with the tiny OPT on the fixture SNI tasks, on the CPU
// (one device, so without FSDP).
local hint = import '../hint.libsonnet';
(import '../sni/def_2pos/opt_13b.jsonnet')(hint.tiny_cpu)
