"""The router's exceptions: one root, a small tree, fields instead of bare strings.

    RouterError
    ├── ConfigError              a bad environment variable; stops start-up
    ├── ApiError                 an HTTP-facing error: status + code + message
    │   ├── ValidationError      400 VALIDATION_ERROR (names the field)
    │   ├── Unauthorized         401 UNAUTHORIZED
    │   ├── InvalidSignature     401 a webhook whose signature does not verify
    │   │   └── Forbidden        403 the same, for carriers that document 403
    │   ├── RoleTooLow           403 FORBIDDEN (an API key whose role does not allow it)
    │   ├── LimitReached         402 LIMIT_REACHED (an organization's number cap)
    │   ├── InsufficientCredits  402 INSUFFICIENT_CREDITS (the balance does not cover a charge)
    │   ├── KybRequired          402 KYB_REQUIRED (a US number before the verification is approved)
    │   ├── Unprocessable        422 (a purchase refused: PURCHASE_LIMIT, NOT_OFFERED)
    │   ├── RateLimited          429 RATE_LIMITED (an organization's request budget; Retry-After)
    │   ├── NotFound             404 NOT_FOUND
    │   ├── Conflict             409 CONFLICT
    │   ├── RequestTimeout       408 REQUEST_TIMEOUT (a body that does not arrive in time)
    │   ├── PayloadTooLarge      413 PAYLOAD_TOO_LARGE
    │   ├── UnsupportedMedia     415 UNSUPPORTED_MEDIA_TYPE
    │   ├── NotImplementedHere   501 NOT_SUPPORTED (what this router does not do, or is off)
    │   ├── RemoteRefusal        502 UPSTREAM_ERROR (a carrier or LiveKit refused, in its words)
    │   ├── CredentialsUnreadable 500 CREDENTIALS_UNREADABLE (stored with another secrets key)
    │   ├── SecretsUnreadable     500 the same, for a SIP connection's passwords
    │   └── Unavailable          503 UNAVAILABLE (Redis down, a webhook source not configured)
    ├── RemoteError              a server we call failed (status, code)
    │   ├── RemoteRejected       4xx: terminal
    │   ├── RemoteUnavailable    5xx or transport: worth a retry
    │   ├── DispatchError        LiveKit's server API
    │   │   ├── DispatchRejected     (also a RemoteRejected)
    │   │   └── DispatchUnavailable  (also a RemoteUnavailable)
    │   ├── TelnyxError          Telnyx Call Control
    │   │   ├── TelnyxRejected       (also a RemoteRejected)
    │   │   └── TelnyxUnavailable    (also a RemoteUnavailable)
    │   └── ProvisioningError    LiveKit's SIP API or a carrier's numbers API, while provisioning
    ├── PoisonEntry              a stream entry that can never be handled: to the DLQ
    └── RetryLater               not now: leave the entry pending, no DLQ strike
        └── LeaseBusy            (store.lease) another worker holds the call's lease

    BlockedAddress (precall, an OSError so aiohttp's connector passes it through): a customer
    webhook address that must not be connected to (SSRF guard).

Foreign exceptions are translated where they enter (``raise X(...) from exc``).
"""

from __future__ import annotations

import math


class RouterError(Exception):
    """Root of every error the router raises on purpose."""


class ConfigError(RouterError):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class ApiError(RouterError):
    status = 500
    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:  # a more precise code than the class's (KYB_REQUIRED, …)
            self.code = code


class ValidationError(ApiError):
    status = 400
    code = "VALIDATION_ERROR"


class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHORIZED"


class InvalidSignature(ApiError):
    status = 401
    code = "INVALID_SIGNATURE"


class Forbidden(InvalidSignature):
    """Carriers document 403 for a signature mismatch."""

    status = 403


class RoleTooLow(ApiError):
    status = 403
    code = "FORBIDDEN"


class LimitReached(ApiError):
    status = 402
    code = "LIMIT_REACHED"


class InsufficientCredits(ApiError):
    status = 402
    code = "INSUFFICIENT_CREDITS"


class KybRequired(ApiError):
    status = 402
    code = "KYB_REQUIRED"


class Unprocessable(ApiError):
    status = 422
    code = "UNPROCESSABLE"


class RateLimited(ApiError):
    status = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def retry_after(seconds: float) -> int:
    """A wait as ``Retry-After`` gives it: whole seconds, rounded up, at least 1 (RFC 9110)."""
    return max(1, math.ceil(seconds))


class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"


class Conflict(ApiError):
    status = 409
    code = "CONFLICT"


class RequestTimeout(ApiError):
    status = 408
    code = "REQUEST_TIMEOUT"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMedia(ApiError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class NotImplementedHere(ApiError):
    status = 501
    code = "NOT_SUPPORTED"


class RemoteRefusal(ApiError):
    status = 502
    code = "UPSTREAM_ERROR"


class CredentialsUnreadable(ApiError):
    """An organization's stored carrier credentials do not decrypt with ROUTER_SECRETS_KEY
    (the key they were saved with was dropped): which ones, and what to do."""

    status = 500
    code = "CREDENTIALS_UNREADABLE"

    def __init__(self, org: str, carrier: str) -> None:
        super().__init__(
            f"the {carrier} credentials of organization {org} do not decrypt with "
            "ROUTER_SECRETS_KEY: add the key they were saved with back to ROUTER_SECRETS_KEY "
            "(comma-separated, the new key first), or save them again with PUT "
            f"/v1/organizations/{org}/integrations/{carrier}"
        )
        self.org, self.carrier = org, carrier


class SecretsUnreadable(ApiError):
    """A SIP connection's stored passwords do not decrypt with ROUTER_SECRETS_KEY."""

    status = 500
    code = "CREDENTIALS_UNREADABLE"


class Unavailable(ApiError):
    status = 503
    code = "UNAVAILABLE"


class RemoteError(RouterError):
    """A server we call (LiveKit, Telnyx) failed; ``status`` None: no answer at all.
    ``maybe_done``: the request may have been carried out (no answer, a timeout, a 5xx from
    the server or a proxy): ask before doing it again. ``retry_after_s``: the server's word."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        maybe_done: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.maybe_done = maybe_done
        self.retry_after_s = retry_after_s


class ProvisioningError(RemoteError):
    """LiveKit or a carrier refused or did not answer a provisioning request (kept on the
    number as its setup issue; the next reconcile pass tries again)."""


class RemoteRejected(RemoteError):
    """4xx: retrying the same request cannot help."""


class RemoteUnavailable(RemoteError):
    """5xx or transport: retry with backoff."""


class DispatchError(RemoteError):
    """LiveKit's server API failed."""


class DispatchRejected(DispatchError, RemoteRejected):
    """LiveKit answered 4xx."""


class DispatchUnavailable(DispatchError, RemoteUnavailable):
    """LiveKit answered 5xx or could not be reached."""


class TelnyxError(RemoteError):
    """Telnyx's Call Control API failed."""


class TelnyxRejected(TelnyxError, RemoteRejected):
    """Telnyx answered 4xx."""


class TelnyxUnavailable(TelnyxError, RemoteUnavailable):
    """Telnyx answered 5xx or could not be reached."""


class PoisonEntry(RouterError):
    """A stream entry that can never be processed (undecodable): dead-letter it at once."""


class RetryLater(RouterError):
    """Not now, and not the entry's fault (another worker holds the call): leave it pending
    without counting it towards dead-lettering."""
