"""The fixtures every lab test may take (labs/conftest.py)."""

from labs.conftest import harness, variant  # noqa: F401
