"""``python -m autoassign``: the ``autoassign`` command line (see :mod:`autoassign.cli`)."""

from __future__ import annotations

from autoassign.cli import main

raise SystemExit(main())
