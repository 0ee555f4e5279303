"""Fixtures of the alignment tests."""

from __future__ import annotations

import pytest

from tests.align.toys import Toy, make_toy


@pytest.fixture
def toy() -> Toy:
    """48 pairs in 6 classes."""
    return make_toy()
