"""Every fenced ``python`` block in README.md and docs/*.md runs, or says it is a sketch.

A block whose first line is a ``# sketch`` comment (``# sketch: why``) illustrates code
that needs the reader's own adapters or services; it is only compiled. Every other block
is executed: the blocks of one file in order, in one namespace (a reader's session), in
a subprocess with a temporary working directory. ``redis.Redis.from_url`` returns a
fakeredis client there, so snippets that name a broker URL run without one. When a block
ends with a ``print(...)`` line followed by comment lines, those comments are the output
the ``print`` must produce (after ``# ``). The convention is documented in docs/index.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKETCH = re.compile(r"#\s*sketch\b", re.IGNORECASE)
_FENCE = re.compile(
    r"^(?P<indent> *)```python[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)
TIMEOUT = 120

_HARNESS = r"""
import contextlib, io, json, sys, traceback
import fakeredis, redis

_server = fakeredis.FakeServer()
redis.Redis.from_url = classmethod(  # a broker URL in a snippet: no real server needed
    lambda cls, url, **kwargs: fakeredis.FakeRedis(server=_server, **kwargs)
)
namespace = {"__name__": "__snippet__"}
for block in json.load(sys.stdin):
    out = io.StringIO()
    try:
        code = compile(block["code"], block["where"], "exec")
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
    except BaseException:
        print(block["where"], "failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    expected = block["expected"]
    if expected is not None and out.getvalue().rstrip("\n") != expected:
        print(block["where"], "printed", repr(out.getvalue()), "expected", repr(expected),
              file=sys.stderr)
        sys.exit(1)
"""


def snippets(path: Path) -> list[tuple[int, str]]:
    """The python blocks of ``path``: (first code line number, dedented code)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        found.append((line, textwrap.dedent(match.group("body"))))
    return found


def is_sketch(code: str) -> bool:
    first = code.lstrip("\n").splitlines()[0] if code.strip() else ""
    return bool(SKETCH.match(first.strip()))


def expected_output(code: str) -> str | None:
    """The trailing comment lines after a final ``print(...)`` line, without ``# ``."""
    lines = code.rstrip("\n").splitlines()
    comments: list[str] = []
    while lines and lines[-1].startswith("#"):
        comments.insert(0, lines.pop()[1:].removeprefix(" "))
    if not comments or not lines or not lines[-1].lstrip().startswith("print("):
        return None
    return "\n".join(comments)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _blocks(path: Path) -> list[dict[str, object]]:
    return [
        {
            "where": f"{_name(path)}:{line}",
            "code": code,
            "expected": expected_output(code),
        }
        for line, code in snippets(path)
        if not is_sketch(code)
    ]


def run_blocks(
    blocks: list[dict[str, object]], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _HARNESS],
        input=json.dumps(blocks),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


RUNNABLE = [path for path in DOCUMENTS if _blocks(path)]


def test_the_documents_have_runnable_snippets() -> None:
    assert ROOT / "README.md" in RUNNABLE
    assert len(RUNNABLE) >= 6


@pytest.mark.parametrize("path", RUNNABLE, ids=_name)
def test_snippets_run(path: Path, tmp_path: Path) -> None:
    completed = run_blocks(_blocks(path), tmp_path)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_sketches_compile(path: Path) -> None:
    for line, code in snippets(path):
        if is_sketch(code):
            compile(code, f"{_name(path)}:{line}", "exec")


def test_a_failing_snippet_fails_the_run(tmp_path: Path) -> None:
    """The harness is not a rubber stamp: an error, or output other than the comment
    says, fails it; a sketch is not run."""
    error = [
        {
            "where": "x.md:1",
            "code": "import autoassign\nundefined_name\n",
            "expected": None,
        }
    ]
    assert run_blocks(error, tmp_path).returncode == 1
    code = "print(1 + 1)\n# 3\n"
    wrong = [{"where": "x.md:1", "code": code, "expected": expected_output(code)}]
    completed = run_blocks(wrong, tmp_path)
    assert completed.returncode == 1
    assert "expected '3'" in completed.stderr
    assert is_sketch("# sketch: needs your database\nundefined_name\n")
    assert not is_sketch("# a comment\nprint(1)\n")


def test_the_rq_snippet_is_the_one_that_used_to_fail(tmp_path: Path) -> None:
    """docs/jobs.md's RQ block once lacked ``import autoassign``: run alone (as a reader
    pasting it would), it must still work."""
    jobs = ROOT / "docs" / "jobs.md"
    rq_blocks = [
        block for block in _blocks(jobs) if "integrations.rq" in str(block["code"])
    ]
    assert len(rq_blocks) == 1
    completed = run_blocks(rq_blocks, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "redis = " not in str(rq_blocks[0]["code"])  # the module name stays usable
