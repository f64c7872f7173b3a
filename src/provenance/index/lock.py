"""One writer per index: a lock file naming its holder, taken over when the holder is dead."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from ..errors import IndexLocked
from .layout import LOCK



def _process_start(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


def _alive(info: dict) -> bool:
    if info.get("host") != socket.gethostname():
        return True  # cannot check another machine's processes: assume it is alive
    pid = int(info.get("pid", -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = info.get("process_start")
    now_start = _process_start(pid)
    # A recycled pid belongs to a process that started after the lock was written.
    return not (started and now_start and abs(now_start - started) > 1.0)


class WriteLock:
    """Context manager holding ``DIR/LOCK`` exclusively."""

    def __init__(self, directory: Path):
        self.path = directory / LOCK
        self.took_over_from: int | None = None

    def acquire(self) -> "WriteLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "process_start": _process_start(os.getpid()),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = self._read()
                if info is not None and _alive(info):
                    raise IndexLocked(
                        f"index {self.path.parent} is being written by process {info.get('pid')} on {info.get('host')} "
                        f"(since {info.get('since')}); wait for it to finish, or stop it. "
                        f"If that process is gone, delete {self.path}."
                    ) from None
                self.took_over_from = (info or {}).get("pid")
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
                f.flush()
                os.fsync(f.fileno())
            return self
        raise IndexLocked(f"could not take the lock {self.path}: another process keeps re-creating it")

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            # A lock file torn by a crash between create and write holds no live owner.
            return None

    def release(self) -> None:
        info = self._read()
        if info and info.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "WriteLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
