"""The fake clock the test settings hand to autoassign (``AUTOASSIGN['CLOCK']``). A
worker subprocess starts it where the test's clock is (``AA_DJ_CLOCK_AT``)."""

from __future__ import annotations

import os
from datetime import datetime

from autoassign.testing import EPOCH, FakeClock

_START = os.environ.get("AA_DJ_CLOCK_AT")
CLOCK = FakeClock(datetime.fromisoformat(_START) if _START else EPOCH)


def clock() -> FakeClock:
    return CLOCK
