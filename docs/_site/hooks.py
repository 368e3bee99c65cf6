"""mkdocs hooks for the docs site.

The guides link to files outside docs/ (``../README.md``, ``../examples/demo.py``,
``../src/autoassign/admin/openapi.json``) so that they work when read on GitHub. The site
has no such files: each such link is rewritten to the file in the repository
(``repo_url``/blob/main/..., ``tree`` for a folder), so the strict build accepts it and a
reader of the site still reaches the file.
"""

from __future__ import annotations

import re
from typing import Any

_OUTSIDE = re.compile(r"\]\(\.\./(?P<path>[^)#\s]*)(?P<anchor>#[^)\s]*)?\)")


def outside_links(markdown: str, repo_url: str) -> str:
    """``markdown`` with every ``](../path)`` link pointing into the repository."""

    def rewrite(match: re.Match[str]) -> str:
        path = match.group("path")
        kind = "tree" if path.endswith("/") or not path else "blob"
        anchor = match.group("anchor") or ""
        return f"]({repo_url.rstrip('/')}/{kind}/main/{path}{anchor})"

    return _OUTSIDE.sub(rewrite, markdown)


def on_page_markdown(markdown: str, *, config: Any, **kwargs: Any) -> str:
    return outside_links(markdown, config["repo_url"])
