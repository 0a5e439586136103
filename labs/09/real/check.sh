#!/bin/sh
# The real-tool step of lab 9 (root): see check.py.
exec "$PYTHON" "$(dirname "$0")/check.py" "$@"
