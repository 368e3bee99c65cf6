"""The wheel a user installs: what it contains and what its metadata says.

Built once per session from the working tree with ``pip wheel --no-deps
--no-build-isolation`` (hatchling comes from the ``test`` extra)."""

from __future__ import annotations

import email.message
import email.parser
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (path,) = out.glob("autoassign-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def _metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode("utf-8"))


def test_the_wheel_ships_the_openapi_document(wheel: zipfile.ZipFile) -> None:
    document = json.loads(wheel.read("autoassign/admin/openapi.json"))
    assert document["openapi"].startswith("3.1")


def test_the_wheel_ships_its_data_files(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "autoassign/py.typed" in names
    assert "autoassign/simulate/default.toml" in names
    assert any(n.startswith("autoassign/adapters/redis/lua/") for n in names)
    migrations = "autoassign/adapters/sql/migrations/"
    assert f"{migrations}env.py" in names
    assert f"{migrations}versions/0001_first_schema.py" in names
    assert not any(n.startswith(("tests/", "docs/", "benchmarks/")) for n in names)


def test_the_metadata_has_urls_classifiers_and_no_dev_extra(
    wheel: zipfile.ZipFile,
) -> None:
    metadata = _metadata(wheel)
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL") or [])
    assert {"Source", "Issues", "Changelog", "Documentation"} <= set(urls)
    classifiers = metadata.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.10" in classifiers
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {"redis", "sql", "postgres", "cli", "testing", "prometheus"} <= extras
    assert "dev" not in extras
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("alembic") and "extra == 'sql'" in r for r in requires)


def test_the_wheel_readme_links_absolutely(wheel: zipfile.ZipFile) -> None:
    body = _metadata(wheel).get_payload()
    assert isinstance(body, str)
    assert "](docs/" not in body
    assert "](https://" in body
