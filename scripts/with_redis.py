"""Run a command with a Redis answering at REDIS_URL: the one already there, or an embedded one for its duration.

Usage: .venv/bin/python scripts/with_redis.py COMMAND [ARGS...]   (what `make test` does around pytest)
"""

import os
import subprocess
import sys

from run import DEFAULT_REDIS_URL, QuickStartError, Supervisor, redis_answers, say, start_embedded_redis


def main(command: list[str]) -> int:
    """Make sure Redis answers, run command, stop the Redis this started; return the command's exit code."""
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    supervisor = Supervisor()
    try:
        if not redis_answers(redis_url):
            start_embedded_redis(supervisor, redis_url)
        child = subprocess.Popen(command)
        try:
            return child.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached the command too: let it finish its own shutdown before Redis goes.
            return child.wait()
    except QuickStartError as error:
        say(f"error: {error}")
        return 1
    finally:
        supervisor.stop({"redis"})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
