#!/bin/sh
# The real-tool step of lab 6 (root): see check.py.
exec "$PYTHON" "$(dirname "$0")/check.py" "$@"
