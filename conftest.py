"""Before collection: generate the notebooks' .ipynb files from their py:percent sources, so
`pytest --nbmake` (in `make test`) runs exactly what notebooks/*.py say."""

from tests.notebooks.paired import sync_notebooks


def pytest_sessionstart(session):
    sync_notebooks()
