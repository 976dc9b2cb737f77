"""
promptsource's templates from its source archive: the cached archive, its three accepted forms, and
what a user without it is told.
"""

import tarfile

import pytest
from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.p3.promptsource_distribution import (
    ARCHIVE_MEMBER,
    FETCH_COMMAND,
    SDIST_NAME,
    PromptsourceTemplates,
    cached_sdist,
    default_templates,
    fetch_sdist,
)


def test_the_archive_an_unpacked_promptsource_and_its_templates_folder_agree(tmp_path):
    with tarfile.open(cached_sdist()) as archive:
        members = [
            member
            for member in archive
            if (match := ARCHIVE_MEMBER.match(member.name)) and match["folder"] == "super_glue/rte"
        ]
        archive.extractall(tmp_path, members=members, filter="data")
    (unpacked,) = tmp_path.iterdir()
    expected = default_templates().templates("super_glue/rte")
    assert len(expected) == 10
    for form in [unpacked, unpacked / "promptsource" / "templates"]:
        templates = PromptsourceTemplates(form)
        assert templates.folders() == ["super_glue/rte"]
        found = templates.templates("super_glue/rte")
        assert [(t.name, t.jinja, t.answer_choices) for t in found] == [
            (t.name, t.jinja, t.answer_choices) for t in expected
        ]
        with pytest.raises(ConfigurationError, match="No templates for anli"):
            templates.templates("anli")
    with pytest.raises(ConfigurationError, match="has no <dataset>/templates.yaml"):
        PromptsourceTemplates(tmp_path / unpacked.name / "promptsource")
    not_an_archive = tmp_path / "notes.tar.gz"
    not_an_archive.write_text("not an archive")
    with pytest.raises(ConfigurationError, match="not a readable source archive"):
        PromptsourceTemplates(not_an_archive)


def test_without_the_archive_the_message_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HINT_ALLENNLP_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigurationError) as missing:
        cached_sdist()
    assert f"{tmp_path / 'cache' / SDIST_NAME} does not exist" in str(missing.value)
    assert f"Fetch it with `{FETCH_COMMAND}`" in str(missing.value)
    # Offline: pip cannot reach an index.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "1")
    with pytest.raises(ConfigurationError, match=f"Could not download {SDIST_NAME} from PyPI"):
        fetch_sdist()
    assert not list((tmp_path / "cache").iterdir())  # no partial download left behind
    (tmp_path / "cache" / SDIST_NAME).write_bytes(b"damaged")
    with pytest.raises(ConfigurationError, match="has SHA-256 .* a damaged or different file"):
        cached_sdist()
