"""Who holds a claimed job or part (host:pid of the worker process), and whether that owner is gone.

An owner is gone when its heartbeat is older than GENREC_DEAD_AFTER_SECONDS (a few seconds: a live run beats
every GENREC_HEARTBEAT_SECONDS from a thread), or at once when it ran on this host and its process has exited.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from django.conf import settings


def this_worker() -> str:
    """The owner name of the calling process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this host (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def owner_gone(worker: str, heartbeat_at: datetime | None, now: datetime) -> bool:
    """Whether the owner of a claim is dead: a silent heartbeat, or its process missing on this very host."""
    if heartbeat_at is None or heartbeat_at < now - timedelta(seconds=settings.GENREC_DEAD_AFTER_SECONDS):
        return True
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not process_exists(int(pid))
