"""Plain-text stand-ins for the few ``rich`` objects :mod:`autoassign.simulate.render`
uses, so the ``autoassign`` command prints its tables without the ``cli`` extra (no
colour, no terminal width handling)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import IO

__all__ = ["Console", "Table", "Text", "box"]

box = SimpleNamespace(
    SIMPLE="simple", SIMPLE_HEAD="simple_head", SIMPLE_HEAVY="simple_heavy"
)
"""The table styles render.py names; plain tables all look the same."""


class Text:
    """A piece of text; the style is ignored."""

    def __init__(self, text: str = "", style: str = "") -> None:
        self.plain = text
        self.style = style

    def __str__(self) -> str:
        return self.plain


class Table:
    """A table of text cells, columns padded to their widest cell."""

    def __init__(
        self,
        *,
        title: str | None = None,
        box: object = None,
        title_justify: str = "left",
        pad_edge: bool = True,
        padding: object = None,
    ) -> None:
        self.title = title
        self._headers: list[str] = []
        self._right: list[bool] = []
        self._rows: list[list[str]] = []

    def add_column(
        self, header: str, *, justify: str = "left", no_wrap: bool = False
    ) -> None:
        """Add a column; ``justify="right"`` aligns its cells to the right."""
        self._headers.append(header)
        self._right.append(justify == "right")

    def add_row(self, *cells: str | Text) -> None:
        """Add a row of cells, one per column."""
        self._rows.append([str(cell) for cell in cells])

    def lines(self) -> list[str]:
        """The table as lines of text: title, header lines, a rule, the rows."""
        headers = [header.split("\n") for header in self._headers]
        height = max((len(header) for header in headers), default=0)
        header_rows = [
            [
                header[index - height + len(header)]
                if index >= height - len(header)
                else ""
                for header in headers
            ]
            for index in range(height)
        ]
        widths = [
            max(len(row[column]) for row in [*header_rows, *self._rows])
            for column in range(len(headers))
        ]

        def line(cells: list[str]) -> str:
            padded = (
                cell.rjust(width) if right else cell.ljust(width)
                for cell, width, right in zip(cells, widths, self._right, strict=True)
            )
            return "  " + "   ".join(padded).rstrip()

        out = [self.title] if self.title else []
        out.extend(line(row) for row in header_rows)
        out.append("  " + "   ".join("-" * width for width in widths))
        out.extend(line(row) for row in self._rows)
        return out


class Console:
    """Writes text and tables to ``file``."""

    def __init__(
        self, file: IO[str], width: int | None = None, soft_wrap: bool = False
    ) -> None:
        self.file = file

    def print(self, *objects: object, style: str = "") -> None:
        """Print the objects on one line (a table on its own lines)."""
        parts: list[str] = []
        for item in objects:
            if isinstance(item, Table):
                parts.append("\n".join(item.lines()) + "\n")
            else:
                parts.append(str(item))
        self.file.write(" ".join(parts).rstrip("\n") + "\n")
