"""
promptsource's templates from promptsource's own distribution: its source archive on PyPI,
`promptsource-0.2.3.tar.gz`, which `pip download` fetches on any Python (only installing the
package fails on Python >= 3.10). Nothing of promptsource ships with this plugin.

- `fetch_sdist` downloads the archive into the cache (`$HINT_ALLENNLP_CACHE`, by default
  `~/.cache/hint_allennlp`) and checks its SHA-256 (`allennlp hint-p3-prepare --fetch-templates`,
  and `make templates`, which `make test` and `make demo` run).
- `cached_sdist` finds it there, or says which command fetches it.
- `PromptsourceTemplates` reads the `templates.yaml` of a dataset from the archive itself (no
  unpacking), from an unpacked promptsource, or from a promptsource `templates/` folder.
"""

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

from allennlp.common.checks import ConfigurationError

from hint_allennlp.data.file_reading import DataFormatError, decode_utf8, without_byte_order_mark
from hint_allennlp.data.p3.promptsource_templates import PromptTemplate, parse_templates

PROMPTSOURCE_VERSION = "0.2.3"
# SHA-256 of promptsource-0.2.3.tar.gz as PyPI serves it.
SDIST_SHA256 = "f106c889778a0fe5590e7183904bf964e1a01691c8a29451e44f3df5ddef05f5"
SDIST_NAME = f"promptsource-{PROMPTSOURCE_VERSION}.tar.gz"
CACHE_VARIABLE = "HINT_ALLENNLP_CACHE"
FETCH_COMMAND = "allennlp hint-p3-prepare --fetch-templates"
PIP_DOWNLOAD = [
    "pip",
    "download",
    "--no-deps",
    "--ignore-requires-python",
    "--no-binary",
    ":all:",
    f"promptsource=={PROMPTSOURCE_VERSION}",
]
# A templates file inside a promptsource source archive or checkout.
ARCHIVE_MEMBER = re.compile(r"^[^/]+/promptsource/templates/(?P<folder>.+)/templates\.yaml$")
TEMPLATES_FILE = "templates.yaml"


def cache_dir() -> Path:
    """Where downloads are kept: `$HINT_ALLENNLP_CACHE`, else `~/.cache/hint_allennlp`."""
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured) if configured else Path.home() / ".cache" / "hint_allennlp"


def sdist_path() -> Path:
    return cache_dir() / SDIST_NAME


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _how_to_get() -> str:
    return (
        f"Fetch it with `{FETCH_COMMAND}` (or `make templates` in a clone), which runs `"
        + " ".join(PIP_DOWNLOAD)
        + f"` and needs access to PyPI; or pass --templates a copy of {SDIST_NAME}, an unpacked "
        "promptsource, or its promptsource/templates/ folder."
    )


def cached_sdist() -> Path:
    """The checked archive in the cache; a `ConfigurationError` says how to fetch it."""
    path = sdist_path()
    if not path.is_file():
        raise ConfigurationError(
            f"promptsource {PROMPTSOURCE_VERSION}'s templates are needed and not in the cache: "
            f"{path} does not exist. {_how_to_get()}"
        )
    digest = file_sha256(path)
    if digest != SDIST_SHA256:
        raise ConfigurationError(
            f"{path} has SHA-256 {digest}, not {SDIST_SHA256} ({SDIST_NAME} as PyPI serves it): "
            f"a damaged or different file. Delete it and run `{FETCH_COMMAND}`."
        )
    return path


def fetch_sdist() -> Path:
    """`cached_sdist`, downloaded first (with pip) if it is not in the cache."""
    path = sdist_path()
    if path.is_file():
        return cached_sdist()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".download-") as download:
        command = [sys.executable, "-m", *PIP_DOWNLOAD, "--quiet", "-d", download]
        result = subprocess.run(command, capture_output=True, text=True)
        downloaded = Path(download) / SDIST_NAME
        if result.returncode != 0 or not downloaded.is_file():
            pip_said = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigurationError(
                f"Could not download {SDIST_NAME} from PyPI (pip: {pip_said}). Without network "
                f"access, download it on another machine with `{' '.join(PIP_DOWNLOAD)}` and copy "
                f"it to {path}, or pass it with --templates."
            )
        digest = file_sha256(downloaded)
        if digest != SDIST_SHA256:
            raise ConfigurationError(
                f"The downloaded {SDIST_NAME} has SHA-256 {digest}, not {SDIST_SHA256}: not the "
                "archive this plugin was checked against; it was not kept."
            )
        os.replace(downloaded, path)
    return path


class PromptsourceTemplates:
    """
    promptsource's templates, by dataset folder (`super_glue/rte`, `anli`).

    # Parameters

    path : `Path`
        promptsource's source archive (`promptsource-0.2.3.tar.gz`; read without unpacking), an
        unpacked promptsource (a folder with `promptsource/templates/`), or a promptsource
        `templates/` folder (`<dataset>[/<subset>]/templates.yaml`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._archived: Optional[Dict[str, bytes]] = None
        if path.is_file():
            self._archived = _archived_templates(path)
            self._folder = path
        elif path.is_dir():
            unpacked = path / "promptsource" / "templates"
            self._folder = unpacked if unpacked.is_dir() else path
            if not any(self._folder.glob(f"*/{TEMPLATES_FILE}")) and not any(
                self._folder.glob(f"*/*/{TEMPLATES_FILE}")
            ):
                raise ConfigurationError(
                    f"{path} has no <dataset>/{TEMPLATES_FILE}: give promptsource's source "
                    "archive, an unpacked promptsource, or its promptsource/templates/ folder."
                )
        else:
            raise ConfigurationError(f"--templates {path} does not exist. {_how_to_get()}")
        self._read = lru_cache(maxsize=None)(self._read_folder)

    def folders(self) -> List[str]:
        """Every dataset folder with templates."""
        if self._archived is not None:
            return sorted(self._archived)
        return sorted(
            str(file.parent.relative_to(self._folder))
            for file in self._folder.rglob(TEMPLATES_FILE)
        )

    def templates(self, folder: str) -> List[PromptTemplate]:
        """The templates of a dataset folder, by name; a `ConfigurationError` if it has none."""
        return list(self._read(folder))

    def _read_folder(self, folder: str) -> List[PromptTemplate]:
        if self._archived is not None:
            if folder not in self._archived:
                raise ConfigurationError(
                    f"No templates for {folder} in {self.path}: it has no "
                    f"<top>/promptsource/templates/{folder}/{TEMPLATES_FILE}."
                )
            source = f"{self.path}:promptsource/templates/{folder}/{TEMPLATES_FILE}"
            raw = self._archived[folder]
        else:
            file = self._folder / folder / TEMPLATES_FILE
            if not file.is_file():
                raise ConfigurationError(f"No templates for {folder}: {file} does not exist.")
            source, raw = str(file), file.read_bytes()
        try:
            text = decode_utf8(without_byte_order_mark(raw), source)
        except DataFormatError as error:
            raise ConfigurationError(str(error)) from None
        return parse_templates(text, source)


def _archived_templates(path: Path) -> Dict[str, bytes]:
    """The `templates.yaml` files of a promptsource source archive, by dataset folder."""
    found: Dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = ARCHIVE_MEMBER.match(member.name)
                if match and member.isfile():
                    file = archive.extractfile(member)
                    found[match["folder"]] = file.read() if file is not None else b""
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ConfigurationError(
            f"{path} is not a readable source archive (.tar.gz) of promptsource ({error})."
        ) from None
    if not found:
        raise ConfigurationError(
            f"{path} holds no <top>/promptsource/templates/<dataset>/{TEMPLATES_FILE}: not a "
            "source archive of promptsource."
        )
    return found


@lru_cache(maxsize=None)
def _templates_at(path: Path) -> PromptsourceTemplates:
    return PromptsourceTemplates(path)


def default_templates() -> PromptsourceTemplates:
    """promptsource 0.2.3's templates from the cached archive (read once per process)."""
    return _templates_at(cached_sdist())
