#!/usr/bin/env python
"""Django's command-line utility for the LTP Labs API gateway."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ltplabs.settings")
    # A command counts in its own process: never into the workers' metrics files (a command run
    # in the pod with the variable set would add its audit rows to the gateway's), nor fail on a
    # folder gunicorn has not made yet. prometheus_client picks its mode when first imported.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
