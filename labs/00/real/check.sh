#!/bin/sh
# Lab 0's real-tool step (root): the student's webget, on a netstack stack, fetches a
# file from `python3 -m http.server` on the kernel side. See check.py.
exec "$PYTHON" "$(dirname "$0")/check.py" "$@"
