#!/usr/bin/env python
"""Django's command-line utility for GEN_REC."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

SECRET_HINT = (
    "GEN_REC: no secret key. Set SECRET_KEY, or SECRET_KEY_FILE=var/secret_key (the quick start's, "
    "made by `make run` or `make admin`), or DEBUG=1 for local development."
)


def main() -> None:
    """Run administrative tasks; a missing secret is one line on stderr, not a traceback."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genrec_site.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        if "SECRET_KEY" not in str(error):
            raise
        print(SECRET_HINT, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
