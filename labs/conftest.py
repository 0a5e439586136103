"""Fixtures every lab test may take: `variant` (public, or hidden with
NETSTACK_LAB_VARIANT=SEED) and `harness` (a LabHarness around a fresh stack for it)."""

import pytest

from labs.kit import Variant, current_variant, make_harness


@pytest.fixture
def variant() -> Variant:
    return current_variant()


@pytest.fixture
def harness(variant):
    return make_harness(variant)
