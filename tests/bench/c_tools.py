"""What the tests of benchmarks/*.c share: skip markers and the warnings-are-errors build."""

import shutil
import subprocess
from pathlib import Path

import pytest

from netstack.netns import is_root

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
needs_root = pytest.mark.skipif(
    not is_root() or not Path("/dev/net/tun").exists() or shutil.which("ping") is None,
    reason="needs root, /dev/net/tun and ping (network namespaces and TAP devices)",
)


def assert_compiles_without_warnings(source: Path, tmp_path: Path) -> None:
    cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_GNU_SOURCE",
           "-o", str(tmp_path / source.stem), str(source)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
