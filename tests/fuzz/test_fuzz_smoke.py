"""The fuzz smoke run `make test` does: every harness over its seeds and regressions, then
a few thousand seeded mutations (deterministic, no instrumentation), and atheris itself for a
handful of inputs. The long coverage-guided runs are `make fuzz` (docs/FUZZING.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netstack.fuzz import HARNESSES
from netstack.fuzz.corpus import read_inputs, regression_dir, seed_dir
from netstack.fuzz.runner import load_harness, plain_loop
from netstack.fuzz.world import InvariantViolation, World

ROOT = Path(__file__).resolve().parents[2]
# Seeded mutations per harness: a few seconds each.
SMOKE_RUNS = {"receive": 3000, "codecs": 10000, "calls": 2000}


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_the_seeds_and_regressions_replay_cleanly(harness):
    inputs = read_inputs(seed_dir(harness), regression_dir(harness))
    assert len(inputs) >= 5, f"{harness} should have a seed corpus (tests/fuzz/make_seeds.py)"
    one_input = load_harness(harness)
    for _path, data in inputs:
        one_input(data)  # raises on a crash or a broken invariant


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_seeded_mutations_find_nothing(harness, tmp_path):
    done = plain_loop(harness, SMOKE_RUNS[harness], None, seed=16, crash_dir=tmp_path,
                      quiet=True)
    assert done == SMOKE_RUNS[harness]
    assert not list(tmp_path.iterdir())  # no crash input was saved


def test_the_invariants_catch_a_leaked_mbuf():
    world = World()
    leaked = world.stack.pool.alloc()
    assert leaked is not None
    with pytest.raises(InvariantViolation, match="mbuf"):
        world.finish()


def test_the_invariants_catch_a_connection_left_open():
    world = World()
    world.stack.tcp.forget = lambda conn: None  # a stage that never lets go of a connection
    with pytest.raises(InvariantViolation):
        world.finish()


def test_atheris_runs_the_harness(tmp_path):
    pytest.importorskip("atheris")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-m", "netstack.fuzz", "receive", "--runs", "200", "--seed", "3",
         "--corpus", str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Done 200 runs" in run.stderr
    assert "cov:" in run.stderr  # coverage-guided: libFuzzer reports the edges it reached


def test_bad_arguments_get_one_line_and_status_2():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for argv in (["nosuch"], ["receive", "--time", "0"], ["receive", "--runs", "-3"]):
        run = subprocess.run([sys.executable, "-m", "netstack.fuzz", *argv], capture_output=True,
                             text=True, timeout=60, env=env)
        assert run.returncode == 2
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_the_invariants_catch_an_out_of_order_ledger_that_drifts():
    world = World()
    world.stack.tcp.out_of_order_held += 1000  # bytes no connection holds
    with pytest.raises(InvariantViolation, match="out-of-order"):
        world.check_bounds()
