"""What the README and docs/ state about the code is true of the code: the names they
cite exist, the configuration table lists every argument, the README's pin admits the
version, its links work on an index page, and its commands do what it says."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import autoassign

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PUBLIC_MODULES = (
    "autoassign",
    "autoassign.ports",
    "autoassign.admin",
    "autoassign.explain",
    "autoassign.simulate",
    "autoassign.testing",
    "autoassign.testing.contracts",
    "autoassign.adapters.memory",
    "autoassign.adapters.redis",
    "autoassign.adapters.sql",
    "autoassign.integrations.celery",
    "autoassign.integrations.rq",
)
_REFERENCE = re.compile(r"\b([A-Z][A-Za-z0-9]+)\.([A-Za-z_][A-Za-z0-9_]*)")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _public_classes() -> dict[str, type]:
    classes: dict[str, type] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value):
                classes.setdefault(name, value)
    return classes


def _has_member(cls: type, member: str) -> bool:
    if hasattr(cls, member):
        return True
    for klass in cls.__mro__:
        if member in getattr(klass, "__annotations__", {}):
            return True
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if f"self.{member} =" in source or f"self.{member}:" in source:
            return True
    return False


def references(text: str, classes: dict[str, type]) -> list[tuple[str, str]]:
    """``Class.member`` in backticks, for the public classes."""
    found = []
    for span in re.findall(r"`([^`\n]+)`", text):
        for cls, member in _REFERENCE.findall(span):
            if cls in classes:
                found.append((cls, member))
    return found


def test_cited_members_exist() -> None:
    classes = _public_classes()
    missing = []
    checked = 0
    for path in DOCUMENTS:
        for cls, member in references(path.read_text(encoding="utf-8"), classes):
            checked += 1
            if not _has_member(classes[cls], member):
                missing.append(f"{path.name}: {cls}.{member}")
    assert not missing
    assert checked > 50  # the check reads the docs at all


def test_a_stale_name_is_caught() -> None:
    classes = _public_classes()
    text = "`RateLimitLedger.recent` counts; `RateLimitLedger.usage` counts"
    stale = [
        (c, m) for c, m in references(text, classes) if not _has_member(classes[c], m)
    ]
    assert stale == [("RateLimitLedger", "recent")]


def test_the_configuration_table_lists_every_build_autoassign_argument() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = text[text.index("## build_autoassign") :]
    section = (
        section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    )
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    parameters = set(inspect.signature(autoassign.build_autoassign).parameters)
    assert rows == parameters


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_pin_admits_this_version() -> None:
    version = Version(PYPROJECT["project"]["version"])
    pins = re.findall(r"`autoassign([<>=~!][^`]*)`", _readme())
    assert pins
    for pin in pins:
        assert SpecifierSet(pin).contains(version), pin  # as pip reads it, no --pre


def test_the_readme_links_are_absolute() -> None:
    """An index page renders the README without the repository: relative links break."""
    links = re.findall(r"\]\(([^)]+)\)", _readme())
    assert links
    source = PYPROJECT["project"]["urls"]["Source"]
    for link in links:
        assert link.startswith(source + "/"), link


def test_the_readme_links_name_files_that_exist() -> None:
    source = PYPROJECT["project"]["urls"]["Source"]
    for link in re.findall(r"\]\(([^)]+)\)", _readme()):
        path = re.sub(rf"^{re.escape(source)}/(blob|tree)/main/", "", link)
        assert (ROOT / path).exists(), link


def test_make_demo_is_described_as_what_it_runs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile[makefile.index("\ndemo:") :].splitlines()[2].strip()
    assert recipe == "$(BIN)/autoassign simulate"
    readme = _readme()
    line = next(line for line in readme.splitlines() if line.startswith("make demo"))
    assert "autoassign simulate" in line


def test_the_readme_install_names_only_real_extras() -> None:
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    named = set()
    for group in re.findall(
        r"autoassign\[([a-z,]+)\]|\.whl\[([a-z,]+)\]|\.\[([a-z,]+)\]", _readme()
    ):
        for names in group:
            named |= {name for name in names.split(",") if name}
    assert named
    assert named <= extras
    table = set(re.findall(r"^\| `([a-z]+)`(?:, `([a-z]+)`)? \|", _readme(), re.M))
    assert {name for row in table for name in row if name} <= extras


def test_the_metadata_is_publishable() -> None:
    project = PYPROJECT["project"]
    assert "dev" not in project["optional-dependencies"]
    assert {"Source", "Issues", "Changelog", "Documentation"} <= set(project["urls"])
    floor = Version(project["requires-python"].removeprefix(">="))
    versions = [
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions
    assert min(Version(v) for v in versions) == floor


@pytest.mark.parametrize(
    "wheel_name",
    [f"autoassign-{PYPROJECT['project']['version']}-py3-none-any.whl"],
)
def test_the_readme_names_the_wheel_this_version_builds(wheel_name: str) -> None:
    assert wheel_name in _readme()
