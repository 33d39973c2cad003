"""One bot per journal: an OS lock on `<journal>.lock`, held for the life of the process.

Two daemons on one journal would each reconcile the other's orders and trade the same drift. A
command that trades takes the lock before it opens the journal; a second one finds it held and
stops at once with who holds it (process id, host, since when: written into the lock file by the
holder). The operating system releases the lock when the process ends, however it ends (a
SIGKILL, a crash), so a stale lock file never blocks a restart.

    with JournalLock(path):         # or lock = JournalLock(path).acquire() ... lock.release()
        ...

The lock is `flock` on the lock file, advisory, on the host where the file lives: two containers
mounting the same volume see each other's lock; two hosts on a network file system may not (one
journal per account and host is the rule README states).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from bot.errors import InstanceLocked, JournalError


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


class JournalLock:
    def __init__(self, journal: Path | str) -> None:
        self.journal = Path(journal)
        self.path = lock_path(self.journal)
        self._fd: int | None = None

    def acquire(self) -> JournalLock:
        """Take the lock, or raise `InstanceLocked` naming its holder; `JournalError` when the
        lock file cannot be created."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"cannot create the journal's folder {self.path.parent}:"
                f" {exc.strerror or exc}; set journal.path to a folder this user can write"
                " (in Docker: /data/journal.sqlite, on the volume)"
            ) from None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(
                f"cannot open the journal's lock {self.path}: {exc.strerror or exc};"
                " set journal.path to a folder this user can write"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise InstanceLocked(
                f"journal {self.journal} is in use by another rebalance-bot ({holder}): one bot"
                " per journal; stop the other one first"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"journal lock {self.path}: {exc.strerror or exc}") from None
        self._fd = fd
        note = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(note).encode(), 0)
        except OSError:
            pass  # the lock holds whether or not its note could be written (a full disk)
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> JournalLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it; 'unknown holder' when unreadable."""
    try:
        note = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(note["since"])))
        return f"process {int(note['pid'])} on {note['host']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown holder"
