"""Twilio's request signature, computed as Twilio computes it: checked by the ingress
(``ingress.carrier_signatures``) and made by the simulator (``cli.simulate``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

TWILIO_HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


def twilio_signature(
    key: str, url: str, params: Iterable[tuple[str, str]], algorithm: str = "HMAC_SHA1"
) -> str:
    """Twilio's documented algorithm; repeated names are kept, in their sorted order.
    ``key``: the Auth Token (HMAC_SHA1), or a webhook SharedKey's secret (its algorithm)."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(key.encode(), data.encode(), TWILIO_HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode()
