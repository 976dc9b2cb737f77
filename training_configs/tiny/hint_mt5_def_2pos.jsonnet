// HINT 'Def + 2 Pos.' on the tiny mT5 (`python -m hint_allennlp.testing.tiny_mt5`, its own
// multilingual SentencePiece vocabulary) and the fixture task in Russian (fixtures/multilingual/),
// on the CPU: a multilingual backbone through the same configs.
local hint = import '../hint.libsonnet';
(import '../sni/def_2pos/hint.jsonnet')(hint.tiny_cpu {
  model_name: hint.repository_path('fixtures/tiny-mt5'),
  sni_dir: hint.repository_path('fixtures/multilingual/sni'),
  english_only: false,
})
