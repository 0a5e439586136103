"""Before collection: generate the notebooks' .ipynb files from their py:percent sources, so
`pytest --nbmake` (in `make test`) runs exactly what notebooks/*.py say.

For the whole run, stacks put their control segments (netstack/ctl/) in a directory of
their own, not in /dev/shm: a test that kills a stack cannot leave anything behind on the
machine, and tests never see a stack the user is running.
"""

import os
import shutil
import tempfile

from tests.notebooks.paired import sync_notebooks

_SHM_DIR = tempfile.mkdtemp(prefix="netstack-test-shm-")
os.environ["NETSTACK_SHM_DIR"] = _SHM_DIR  # before any netstack.ctl import reads it


def pytest_sessionstart(session):
    sync_notebooks()


def pytest_unconfigure(config):
    shutil.rmtree(_SHM_DIR, ignore_errors=True)
