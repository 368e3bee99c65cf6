"""A griffe extension for the docs site: Sphinx roles in docstrings become cross-references.

The docstrings cite other objects the Sphinx way (``:class:`~autoassign.ports.Clock```,
``:meth:`run```). mkdocstrings renders Markdown, so each role is rewritten to an autorefs
link, ``[`Clock`][autoassign.ports.Clock]``, to the object's canonical path. A name is
looked up from the object outwards (its class, its module), then in ``autoassign``. A
fully-qualified ``autoassign.*`` name that names nothing is kept as a link, so the strict
build fails on it; any other name that is not found (the standard library's) is code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(?P<target>[^`]+)`"
)
_ROOT = "autoassign"


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring of the package once it is loaded."""

    def on_package(
        self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any
    ) -> None:
        if pkg.path != _ROOT:
            return
        collection = loader.modules_collection
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _ROLE.sub(
                    lambda match, obj=obj: _link(
                        match.group("target"), obj, collection
                    ),
                    obj.docstring.value,
                )


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def _lookup(path: str, collection: griffe.ModulesCollection) -> griffe.Object | None:
    try:
        found = collection[path]
        return found.final_target if found.is_alias else found
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None  # not a name of the package (the standard library's, say)


def _link(target: str, obj: griffe.Object, collection: griffe.ModulesCollection) -> str:
    target = target.strip().lstrip("!")
    short = target.startswith("~")
    name = target.lstrip("~").removesuffix("()")
    shown = name.rsplit(".", 1)[-1] if short else name
    if name == _ROOT or name.startswith(_ROOT + "."):
        scopes = [""]
    else:
        scopes = []
        scope: griffe.Object | None = obj
        while scope is not None:
            scopes.append(scope.path + ".")
            scope = scope.parent
        scopes.append(_ROOT + ".")
    for prefix in scopes:
        found = _lookup(prefix + name, collection)
        if found is not None:
            return f"[`{shown}`][{_anchor(found, prefix + name)}]"
    if name.startswith(_ROOT + "."):
        return f"[`{shown}`][{name}]"  # names nothing: autorefs warns, --strict fails
    return f"`{shown}`"


def _anchor(found: griffe.Object, written: str) -> str:
    """The canonical path, unless it runs through a private class (a mixin's member,
    inherited): then the path as written, through the public class the site renders."""
    inside = found.path.removeprefix(found.module.path).split(".")
    return written if any(part.startswith("_") for part in inside) else found.path
