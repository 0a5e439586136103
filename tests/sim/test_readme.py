"""The README's five-line experiment runs as printed, and shows what the README says."""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_experiment() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Experiments in virtual time", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_experiment_is_five_lines_and_draws_the_bufferbloat_trio(tmp_path):
    code = readme_experiment()
    assert len(code.strip().splitlines()) == 5
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(ROOT),
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "plots" / "bufferbloat.png").stat().st_size > 10_000
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # "the RTT climbs from 4 ms to 4 + 121 ms": the TCP flow's RTT samples reach ~125 ms
    assert 110 <= metrics["flows"]["bulk0"]["rtt_p99_ms"] <= 135
    assert metrics["flows"]["ping1"]["rtt_p50_ms"] > 40
