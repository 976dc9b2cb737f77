// The GPT-2 XL experiment ('Def + 2 Pos.') with the tiny GPT-2 on the fixture SNI tasks, on the CPU.
local hint = import '../hint.libsonnet';
(import '../sni/def_2pos/gpt2_xl.jsonnet')(hint.tiny_cpu)
