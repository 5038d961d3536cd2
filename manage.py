#!/usr/bin/env python
"""Django's command-line utility for GEN_REC."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

# Follows the settings' own message: where the quick start keeps its secret, and how to pass it.
SECRET_HINT = "For the quick start's secret (made by `make run` or `make admin`) set SECRET_KEY_FILE=var/secret_key."


def main() -> None:
    """Run administrative tasks; a missing secret is one line on stderr, not a traceback."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genrec_site.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        if "SECRET_KEY" not in str(error):
            raise
        print(f"{error} {SECRET_HINT}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
