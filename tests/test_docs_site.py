"""The documentation site builds with ``mkdocs build --strict`` (what ``make docs`` runs):
the guides in docs/ plus the API reference generated from the docstrings, where every
warning, such as a cross-reference to nothing, fails the build.

Needs the ``docs`` extra (in requirements-dev.txt, so ``make test``'s venv has it). Without
it the build is skipped, saying so, unless ``CI`` is set: CI must run it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HOOKS = ROOT / "docs" / "_site" / "hooks.py"
TIMEOUT = 300

_MISSING = [
    name
    for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
    if importlib.util.find_spec(name.split(".")[0]) is None
    or importlib.util.find_spec(name) is None
]
if _MISSING and not os.environ.get("CI"):
    pytest.skip(
        f"the docs extra is not installed (missing {', '.join(_MISSING)}): "
        "pip install -e '.[docs]' (make venv does)",
        allow_module_level=True,
    )


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    command = ["build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *command],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def _copy_of_the_sources(tmp_path: Path) -> Path:
    """A throwaway copy of what the build reads, to break on purpose."""
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copytree(
        ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    return copy


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    completed = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert completed.returncode == 0, completed.stderr
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    ports = (site / "reference" / "ports" / "index.html").read_text(encoding="utf-8")
    assert 'id="autoassign.ports.ConversationRepository"' in ports
    # a Sphinx role in a docstring became a link to the object's page
    jobs = (site / "reference" / "jobs" / "index.html").read_text(encoding="utf-8")
    assert 'href="../ports/#autoassign.ports.DelayedJobQueue"' in jobs
    # a guide's link to a file outside docs/ points into the repository
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "https://github.com/autoassign/autoassign/blob/main/README.md" in index


def test_a_broken_cross_reference_or_link_fails_the_build(tmp_path: Path) -> None:
    """One build of a copy broken twice (one build is ~15 s): a docstring citing a name
    that does not exist, and a guide linking to a page that does not exist."""
    copy = _copy_of_the_sources(tmp_path)
    model = copy / "src" / "autoassign" / "model.py"
    text = model.read_text(encoding="utf-8")
    first = text.index('"""') + 3
    model.write_text(
        text[:first] + "See :class:`~autoassign.ports.NoSuchPort`. " + text[first:],
        encoding="utf-8",
    )
    concepts = copy / "docs" / "concepts.md"
    concepts.write_text(
        concepts.read_text(encoding="utf-8") + "\nSee [nothing](no-such-page.md).\n",
        encoding="utf-8",
    )
    completed = _build(copy / "mkdocs.yml", tmp_path / "site")
    assert completed.returncode == 1
    assert "autoassign.ports.NoSuchPort" in completed.stderr
    assert "no-such-page.md" in completed.stderr


def _hooks() -> object:
    spec = importlib.util.spec_from_file_location("docs_site_hooks", _HOOKS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_outside_docs_are_rewritten_to_the_repository() -> None:
    outside_links = _hooks().outside_links  # type: ignore[attr-defined]
    repo = "https://github.com/autoassign/autoassign"
    text = (
        "[README](../README.md#install), [demo](../examples/demo.py), "
        "[folder](../examples/django_helpdesk/), [guide](concepts.md)"
    )
    assert outside_links(text, repo) == (
        f"[README]({repo}/blob/main/README.md#install), "
        f"[demo]({repo}/blob/main/examples/demo.py), "
        f"[folder]({repo}/tree/main/examples/django_helpdesk/), [guide](concepts.md)"
    )
