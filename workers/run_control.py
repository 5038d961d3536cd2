"""The run-control object every worker run shares (a job, a part of a split video, a study).

It answers the pipeline's ``should_stop()`` by reading (or, for a study, heartbeating) the database at most
once a second, and owns the run's one progress throttle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from predictions import events
from predictions.models import Job
from workers.pipeline.errors import AnalysisCancelled

logger = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 1.0  # should_stop() reads the database at most this often


class RunControl:
    """Cancel check, heartbeat and progress throttle of one run; ``is_running()`` is the run's database check."""

    def __init__(
        self,
        job: Job,
        *,
        is_running: Callable[[], bool],
        share: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self.stopped = False
        self._is_running = is_running
        self._clock = clock
        self._last_check = clock()
        # The parts of a split job share the job's rate of progress events.
        self.throttle = events.ProgressThrottle(
            job.public_id, per_second=settings.GENREC_PROGRESS_EVENTS_PER_SECOND / max(share, 1), clock=clock
        )

    def should_stop(self) -> bool:
        """True once the run was cancelled or taken away; asks the database at most once a second."""
        now = self._clock()
        if not self.stopped and now - self._last_check >= CANCEL_CHECK_SECONDS:
            self._last_check = now
            self.stopped = not self._is_running()
        return self.stopped

    def stop(self) -> None:
        """The database said the run is over (a write changed no row): stop the pipeline here."""
        self.stopped = True
        raise AnalysisCancelled(f"job {self.job.public_id} is no longer running")


class Heartbeat:
    """A thread that calls ``beat()`` every GENREC_HEARTBEAT_SECONDS while a task runs, until it returns False.

    Frames are written often, but a run also loads the model, seeks and merges: the thread keeps a live run's
    heartbeat seconds old through all of it, so a silent one can be called dead after a few seconds.
    """

    def __init__(self, beat: Callable[[], bool], *, interval: float | None = None) -> None:
        self._beat = beat
        self._interval = settings.GENREC_HEARTBEAT_SECONDS if interval is None else interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="genrec-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stopped.wait(self._interval):
                if not self._beat():
                    return
        except Exception:
            logger.exception("The heartbeat stopped")
        finally:
            connection.close()  # this thread's own database connection
