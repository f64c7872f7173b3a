"""Named crash points for fault-injection tests.

``PROVENANCE_FAILPOINT=name`` (or ``name:N`` for the N-th time the point is
reached) makes the process kill itself with SIGKILL right there: no cleanup,
no finally blocks, exactly like a power cut or ``kill -9``. Unset, a failpoint
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    spec = os.environ.get("PROVENANCE_FAILPOINT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
