"""
P3 without promptsource: promptsource 0.2.3's templates rendered on the user's exported datasets
(`promptsource_templates`), T0's training mixture and held-out evaluation (`t0_mixture`), the
authors' edited prompts (`edited_prompts`) and few-shot text (`few_shot`), and the preparation of
the `p3` reader's records from dataset rows (`preparation`, run by `allennlp hint-p3-prepare`).
The data it needs ships in `resources/` (sources and licence in `resources/README.md`).
"""
