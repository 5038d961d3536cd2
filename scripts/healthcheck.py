"""Container health checks: `python scripts/healthcheck.py web|worker|beat` exits 0 when that service is healthy."""

import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Beat rewrites its schedule file at least every few minutes while it runs (Celery syncs every 3 minutes).
BEAT_STALE_SECONDS = 10 * 60


def web_is_healthy() -> bool:
    """/healthz answers 200 on this container's port, asked under a host name the site accepts."""
    allowed = [host.strip() for host in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if host.strip()]
    host = allowed[0].lstrip(".") if allowed and allowed[0] != "*" else "localhost"
    request = urllib.request.Request(
        f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz", headers={"Host": host}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status == 200


def worker_is_healthy() -> bool:
    """The Celery worker of this container answers a ping through the broker."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from genrec_site.celery import app

    return bool(app.control.ping(destination=[f"celery@{socket.gethostname()}"], timeout=5))


def beat_is_healthy() -> bool:
    """Beat's schedule file was written recently."""
    schedule = Path(os.environ.get("BEAT_SCHEDULE", PROJECT_ROOT / "var" / "beat" / "celerybeat-schedule"))
    # shelve may add a suffix (.db, .dat) depending on the dbm module the image has.
    written = [path.stat().st_mtime for path in schedule.parent.glob(schedule.name + "*")]
    return bool(written) and time.time() - max(written) < BEAT_STALE_SECONDS


CHECKS = {"web": web_is_healthy, "worker": worker_is_healthy, "beat": beat_is_healthy}


def main(argv: list[str]) -> int:
    """Run the named check; exit code 0 healthy, 1 not."""
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: healthcheck.py {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    try:
        healthy = CHECKS[argv[0]]()
    except Exception as error:  # any failure to answer is "unhealthy", with the reason for `docker inspect`
        print(f"{argv[0]} unhealthy: {error}", file=sys.stderr)
        return 1
    print(f"{argv[0]} {'healthy' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
