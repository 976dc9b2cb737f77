"""
P3 without promptsource: promptsource 0.2.3's templates rendered on the user's exported datasets
(`promptsource_templates`), T0's training mixture and held-out evaluation (`t0_mixture`), the
hypernetwork's text, the authors' edited prompts or the template's (`edited_prompts`), few-shot
text (`few_shot`), and the preparation of the `p3` reader's records from dataset rows
(`preparation`, run by `allennlp hint-p3-prepare`). The templates are read from promptsource's own
source archive (`promptsource_distribution`); the data it ships, the project's table of T0's
datasets, is in `resources/`.
"""
