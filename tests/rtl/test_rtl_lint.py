"""`verilator --lint-only -Wall` is clean at every config."""

from __future__ import annotations

import pytest

from runtime.rtl_build import lint

pytestmark = pytest.mark.rtl


def test_lint_clean(cfg):
    assert lint(cfg) == ""
