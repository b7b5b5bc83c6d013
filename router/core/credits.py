"""Prepaid credits: each organization's balance as an append-only ledger of entries in
integer cents (never a float), each with its reason, who made it, when, and an idempotency
key (a retried request never adds or charges twice). Pure: no I/O (``store.ledger`` keeps
it)."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from router.core.models import Body, Row

Kind = Literal["credit", "adjustment", "charge", "refund"]
MAX_ENTRY_CENTS = 100_000_000  # one entry's size: a million dollars either way
MAX_KEY = 200  # characters of an idempotency key
_KEY = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


class LedgerEntry(Row, kw_only=True):
    id: str = ""  # the ledger's own id (set when read)
    organization_id: str
    amount_cents: int  # credits added (positive) or taken (negative)
    balance_after_cents: int = 0  # set when written
    kind: Kind
    reason: str
    who: str
    at: str
    idempotency_key: str
    reference: str | None = None  # what it pays for: a phone number's id


class CreditAdd(Body, kw_only=True):
    """The operator adds credits (or, negative, takes some back), saying why."""

    amount_cents: int
    reason: str


class Credits(msgspec.Struct, rename="camel", kw_only=True):
    organization_id: str
    currency: Literal["USD"] = "USD"
    balance_cents: int
    entries: list[LedgerEntry]  # newest first (older ones: the Link rel="next" header)


def key_problem(key: str | None) -> str | None:
    """Why an ``Idempotency-Key`` is not one (None: it is)."""
    if not key:
        return "required: a key of your own per request, the same on its retries"
    if len(key) > MAX_KEY or not _KEY.match(key):
        return f"at most {MAX_KEY} printable characters, no spaces"
    return None
