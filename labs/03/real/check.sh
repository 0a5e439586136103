#!/bin/sh
exec "$PYTHON" "$(dirname "$0")/check.py" "$@"
