"""``--plot FILE.png``: backlog over time and per-agent load (the ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_formats", "plot_reports"]


def plot_formats() -> frozenset[str]:
    """The file extensions (no dot, lower case) ``plot_reports`` can write: those of
    matplotlib's canvas (``png``, ``pdf``, ``svg``, ...). Imports matplotlib."""
    from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415

    return frozenset(FigureCanvasBase.get_supported_filetypes())


def plot_reports(reports: dict[str, dict[str, Any]], path: str | Path) -> None:
    """Draw each report's backlog per inbox over time (top) and assignments and mean
    open conversations per agent (bottom) into a PNG. ``reports`` maps a label (the
    policy, for ``--compare``) to a report."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    styles = ["-", "--", ":", "-."]
    for index, (label, report) in enumerate(reports.items()):
        for inbox in report["inboxes"]:
            points = inbox["backlog"]
            top.plot(
                [m / 60 for m, _n in points],
                [n for _m, n in points],
                styles[index % len(styles)],
                label=f"{inbox['inbox']} ({label})"
                if len(reports) > 1
                else inbox["inbox"],
            )
    top.set_title("Backlog: open, unassigned conversations")
    top.set_xlabel("hours since start")
    top.set_ylabel("conversations")
    top.legend(fontsize="small")

    width = 0.8 / max(1, len(reports))
    names: list[str] = []
    for index, (label, report) in enumerate(reports.items()):
        names = [str(a["agent"]) for a in report["agents"]]
        positions = [i + index * width for i in range(len(names))]
        bottom.bar(
            positions,
            [a["assignments"] for a in report["agents"]],
            width=width,
            label=f"assignments ({label})",
        )
    twin = bottom.twinx()
    for index, (label, report) in enumerate(reports.items()):
        positions = [i + index * width for i in range(len(report["agents"]))]
        twin.plot(
            positions,
            [a["mean_open"] for a in report["agents"]],
            "o",
            color="black" if index == 0 else "grey",
            label=f"mean open ({label})",
        )
    bottom.set_xticks([i + width * (len(reports) - 1) / 2 for i in range(len(names))])
    bottom.set_xticklabels(names, rotation=45, ha="right")
    bottom.set_title("Per-agent load")
    bottom.set_ylabel("assignments")
    twin.set_ylabel("mean open conversations")
    bottom.legend(loc="upper left", fontsize="small")
    twin.legend(loc="upper right", fontsize="small")
    figure.savefig(str(path), dpi=100)
    plt.close(figure)
