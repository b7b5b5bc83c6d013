"""Money as people write it and as the ledger keeps it: exact integer cents, never a float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def cents(text: str) -> int:
    """Dollars as written by a person (``25``, ``25.50``, ``$1,000``) in exact cents; more
    than two decimals is not an amount."""
    cleaned = text.strip().removeprefix("$").replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount of dollars (e.g. 25 or 25.50)") from None
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r}: dollars and cents, at most two decimals")
    return int(value * 100)


def dollars(amount_cents: int) -> str:
    sign = "-" if amount_cents < 0 else ""
    return f"{sign}${abs(amount_cents) // 100:,}.{abs(amount_cents) % 100:02d}"
