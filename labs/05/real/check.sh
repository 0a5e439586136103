#!/bin/sh
# Lab 5's real-tool step (root): nc -u against the stack's UDP services, and the stack's
# UDP client asking a kernel server. See check.py.
exec "$PYTHON" "$(dirname "$0")/check.py" "$@"
