"""The `engine` fixture: run a test once per I/O engine (python, and native when built).

A test (or a module-scoped fixture) that takes `engine` runs twice, as `[python]` and
`[native]`; it hands the name on to `StackInNamespace(..., engine=engine)`,
`TcpStackInNamespace` or `netstack run --engine`. The native runs are skipped, with the
reason, when the native module is not built: the Python engine needs nothing compiled.
Module scope, so a module-scoped stack (one `netstack run` for many tests) is started once
per engine, not once per test.
"""

import pytest

from netstack.engine.native_pool import AVAILABLE as NATIVE_BUILT

ENGINES = [
    pytest.param("python"),
    pytest.param("native", marks=pytest.mark.skipif(
        not NATIVE_BUILT, reason="the native engine is not built (python native/build.py)")),
]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request) -> str:
    return request.param
