"""Standard Webhooks signing for the webhooks we send (pre-call and lifecycle).

Headers: ``webhook-id`` (stable across retries of one message), ``webhook-timestamp`` (unix
seconds, fresh per attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` over
``"<id>.<timestamp>.<body>"``, one per secret, space-separated — so a receiver rotating its
secret accepts our messages under the old and the new one. Signing is the ``standardwebhooks``
package's; secrets are ``whsec_<base64>``.
"""

from __future__ import annotations

import base64
import binascii
import secrets as random
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from router.errors import ValidationError

MAX_SECRETS = 3


def message_id() -> str:
    return "msg_" + random.token_urlsafe(18)


def check_secret(secret: str, *, field: str) -> None:
    """A secret may be saved only in the ``whsec_<base64 of 24 to 64 bytes>`` form; the
    base64 may be unpadded, as ``standardwebhooks`` (the signer) itself accepts it."""
    body = secret.removeprefix("whsec_")
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"{field}: must be whsec_<base64>", field="webhooks") from exc
    if not secret.startswith("whsec_") or not 24 <= len(raw) <= 64:
        raise ValidationError(
            f"{field}: must be whsec_ and 24 to 64 random bytes", field="webhooks"
        )


def secrets_of(secret: str | list[str] | None) -> list[str]:
    if secret is None:
        return []
    return [secret] if isinstance(secret, str) else list(secret)


def sign_headers(
    secrets: list[str], body: bytes, msg_id: str, *, now: float | None = None
) -> dict[str, str]:
    at = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    text = body.decode()
    signatures = " ".join(Webhook(s).sign(msg_id, at, text) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "Content-Type": "application/json",
    }
