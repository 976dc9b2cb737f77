"""
The renderer against promptsource's own code: promptsource 0.2.3's `Template.apply` and
`get_answer_choices_list` (bigscience-workshop/promptsource, `promptsource/templates.py`, run from
its source archive by `promptsource_reference`) and this project's renderer on every template of
every dataset of `fixtures/p3/datasets/` (all 47 of T0's datasets), every row, with the seed
`hint-p3-prepare` gives that row.
"""

import json
import random
from functools import lru_cache

import pytest

from hint_allennlp.data.dataset_readers.p3 import fill_template
from hint_allennlp.data.p3.dataset_rows import remove_hyphens
from hint_allennlp.data.p3.promptsource_distribution import default_templates
from hint_allennlp.data.p3.promptsource_templates import (
    PIPE_PROTECTOR,
    PromptRenderError,
    PromptTemplate,
    PromptTemplateError,
    TemplateRenderer,
)
from hint_allennlp.data.p3.t0_mixture import read_t0_datasets
from hint_allennlp.data.p3.task_names import task_name
from tests import FIXTURES_ROOT
from tests.data.p3.promptsource_reference import promptsource_render

P3_FIXTURES = FIXTURES_ROOT / "p3"
FIXTURE_DATASETS = P3_FIXTURES / "datasets"
FIXTURE_FOLDERS = sorted(
    {str(path.parent.relative_to(FIXTURE_DATASETS)) for path in FIXTURE_DATASETS.rglob("*.jsonl")}
)


def fixture_row(dataset: str, split: str, row: int) -> dict:
    return remove_hyphens(json.loads(fixture_lines(dataset, split)[row]))


@lru_cache(maxsize=None)
def fixture_lines(dataset: str, split: str) -> list:
    return (FIXTURE_DATASETS / dataset / f"{split}.jsonl").read_text().splitlines()


@lru_cache(maxsize=None)
def templates(dataset: str) -> dict:
    return {t.name: t for t in default_templates().templates(dataset)}


def render(dataset: str, template: str, split: str, row: int, seed: str = "0"):
    renderer = TemplateRenderer(templates(dataset)[template])
    return renderer.render(fixture_row(dataset, split, row), random.Random(seed))


def test_the_fixtures_cover_every_t0_dataset():
    assert set(FIXTURE_FOLDERS) == {dataset.folder for dataset in read_t0_datasets()}
    assert len(FIXTURE_FOLDERS) == 47


@pytest.mark.parametrize("folder", FIXTURE_FOLDERS)
def test_renders_as_promptsource_and_refills(folder):
    name, _, subset = folder.partition("/")
    full_renders = 0
    for template in templates(folder).values():
        renderer = TemplateRenderer(template)
        for file in sorted((FIXTURE_DATASETS / folder).glob("*.jsonl")):
            for row, line in enumerate(file.read_text().splitlines()):
                place = f"{file}, line {row + 1}, template {template.name!r}"
                example = remove_hyphens(json.loads(line))
                seed = f"0/{task_name(name, subset or None, template.name)}/{file.stem}/{row}"
                parts, choices, error = promptsource_render(folder, template.name, example, seed)
                if error is not None:
                    with pytest.raises(PromptRenderError):
                        renderer.render(example, random.Random(seed))
                    continue
                rendering = renderer.render(example, random.Random(seed))
                assert rendering.parts == parts, place
                assert rendering.answer_choices == choices, place
                if len(parts) == 2:
                    prompt, fields = rendering.template_and_fields(0)
                    assert fill_template(prompt, fields) == parts[0], place
                    full_renders += bool(parts[0] and parts[1])
    # The rows give each dataset at least one full `prompt ||| target`.
    assert full_renders > 0


def test_the_fields_of_a_prompt():
    rendering = render("super_glue/rte", "GPT-3 style", "validation", 0)
    assert rendering.template_and_fields(0) == (
        "{{premise}}\nQuestion: {{hypothesis}} True or False?",
        {
            "premise": "The museum on the hill reopened in May after a two-year renovation that "
            "added a new wing for modern art.",
            "hypothesis": "The museum was closed for renovation.",
        },
    )


def test_answer_choices_printed_in_the_prompt_are_fields():
    # COPA: "{{ premise }} What could happen next, "{{ answer_choices[0] }}" or ...
    rendering = render("super_glue/copa", "…What could happen next, C1 or C2?", "validation", 0)
    template, fields = rendering.template_and_fields(0)
    assert (
        template
        == '{{premise}} What could happen next, "{{answer_choices}}" or "{{answer_choices_2}}"?'
    )
    assert fields["answer_choices_2"] == "The crust burned."


def test_copa_conditionals_render_nothing_for_the_other_question():
    # The template is wrapped in {% if question == "effect" %}: a cause row renders to [""].
    assert render(
        "super_glue/copa", "…What could happen next, C1 or C2?", "validation", 1
    ).parts == [""]


def test_an_instruction_picked_with_choice_is_template_text():
    # HellaSwag's "Randomized prompts template" picks its first line from its own list.
    rendering = render("hellaswag", "Randomized prompts template", "validation", 0, seed="0/x")
    template, fields = rendering.template_and_fields(0)
    first_line = template.split("\n")[0].rstrip()
    assert first_line in {
        "Can you pick the correct ending for the sentence:",
        "The task is to generate the ending for the sentence:",
        "How does this sentence end?",
        "From the list of endings described below, what ending makes the most sense for the "
        "sentence",
    }
    assert set(fields) == {
        "ctx",
        "answer_choices",
        "answer_choices_2",
        "answer_choices_3",
        "answer_choices_4",
    }


def test_choice_is_seeded_per_render():
    picks = {
        render("hellaswag", "Randomized prompts template", "validation", 0, seed=str(s)).parts[0]
        for s in range(20)
    }
    assert len(picks) > 1
    again = render("hellaswag", "Randomized prompts template", "validation", 0, seed="7")
    assert again == render("hellaswag", "Randomized prompts template", "validation", 0, seed="7")


def test_multi_news_pipes_are_escaped_and_loop_values_are_fields():
    # The documents are separated by "|||||"; promptsource escapes "|||" before rendering and the
    # template splits on the escape, so the prompt is not split there.
    example = fixture_row("multi_news", "train", 0)
    assert "|||||" in example["document"]
    rendering = render("multi_news", "what are the key points", "train", 0)
    assert len(rendering.parts) == 2 and PIPE_PROTECTOR not in rendering.parts[0]
    template, fields = rendering.template_and_fields(0)
    assert template == (
        "What are the key points across these news articles:\n\n\nArticle: {{doc}}\n\n\n"
        "Article: {{doc_2}}"
    )
    assert fields["doc_2"].startswith(" Shop owners on Main Street")


def test_long_values_are_truncated_as_promptsource_truncates_them():
    # jinja's truncate(2048) with its leeway of 5: cut at the last space before 2,045 characters.
    article = fixture_row("multi_news", "train", 1)["document"].split("|||||")[0]
    assert len(article) > 2048 + 5
    _, fields = render("multi_news", "summarize", "train", 1).template_and_fields(0)
    assert fields["doc"] == article[:2045].rsplit(" ", 1)[0] + "..."


def template(jinja: str, answer_choices=None) -> PromptTemplate:
    return PromptTemplate(
        dataset="test",
        subset=None,
        name="t",
        id="t",
        jinja=jinja,
        answer_choices=answer_choices,
        original_task=True,
        choices_in_prompt=False,
        metrics=(),
        reference="",
        source="test.yaml",
    )


def test_a_field_value_with_the_separator_cannot_be_placed():
    # An answer choice is unescaped before it is printed, so a "|||" in it splits the prompt, as
    # in promptsource; the fields of such a render cannot be located.
    renderer = TemplateRenderer(template("Pick {{answer_choices[0]}} ||| x", "{{a}} ||| b"))
    rendering = renderer.render({"a": "one ||| two"}, random.Random(0))
    assert rendering.parts == ["Pick one", "two", "x"]
    with pytest.raises(PromptRenderError, match="contains '|||'"):
        rendering.template_and_fields(0)


@pytest.mark.parametrize(
    "jinja, message",
    [
        ("{{ a ||| b", "does not compile"),
        ("{% set x %}{{ a }}{% endset %}{{ x }} ||| b", "AssignBlock"),
    ],
)
def test_templates_that_cannot_be_rendered_are_refused(jinja, message):
    with pytest.raises(PromptTemplateError, match=message):
        TemplateRenderer(template(jinja))


def test_the_reserved_key_is_refused():
    with pytest.raises(PromptRenderError, match="reserved"):
        TemplateRenderer(template("{{a}} ||| b")).render({"answer_choices": 1}, random.Random(0))


def test_template_text_with_braces_cannot_be_a_reader_template():
    rendering = TemplateRenderer(template("{{ '{{' }} {{a}} ||| b")).render(
        {"a": "x"}, random.Random(0)
    )
    assert rendering.parts[0] == "{{ x"
    with pytest.raises(PromptRenderError, match="has '\\{\\{'"):
        rendering.template_and_fields(0)


def test_every_template_of_the_t0_datasets_compiles():
    for dataset in read_t0_datasets():
        for archived in default_templates().templates(dataset.folder):
            TemplateRenderer(archived)
