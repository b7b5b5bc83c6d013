"""Money read exactly: dollars as people write them, in integer cents."""

from __future__ import annotations

import pytest

from router.money import cents, dollars


def test_amounts_are_read_exactly():
    assert cents("25") == 2500
    assert cents("$1,000.10") == 100010
    assert cents("0.29") == 29  # 0.29 * 100 is 28.999… in floating point
    for bad in ("25.555", "ten", "nan", "inf"):
        with pytest.raises(ValueError, match="dollars"):
            cents(bad)
    assert dollars(-550) == "-$5.50"
    assert dollars(123456789) == "$1,234,567.89"
