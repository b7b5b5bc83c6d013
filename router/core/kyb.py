"""Business verification (KYB) before an organization may buy a managed US number — the
reference's ``getKyb`` / ``saveKybDraft`` / ``submitKyb`` shapes (``GET /v1/phone-numbers/kyb``,
``PUT …/kyb/draft``, ``POST …/kyb/submit``) and the operator's review.

One submission per organization: ``draft`` (saved in parts, each field checked as it comes),
``submitted`` (complete, attested; the operations team told), then ``approved`` or
``rejected`` with a reason the customer sees. A rejected submission is edited and submitted
again; a submitted or approved one is not changed by the customer. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from router.core.models import Body, Row
from router.core.phone import to_e164
from router.errors import Conflict, ValidationError

Status = Literal["draft", "submitted", "approved", "rejected"]
SlackStatus = Literal["not_queued", "queued", "sent", "failed"]
MAX_FIELD = 500  # characters of one text field
_COUNTRY = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WEBSITE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class Address(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class BusinessProfile(msgspec.Struct, rename="camel", kw_only=True):
    legal_name: str | None = None
    display_name: str | None = None
    entity_type: str | None = None
    country: str | None = None
    registration_id: str | None = None
    website: str | None = None
    address: Address | None = None
    use_case: str | None = None
    expected_usage: str | None = None


class Representative(msgspec.Struct, rename="camel", kw_only=True):
    name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None


class KybSubmission(Row, kw_only=True):
    id: str
    organization_id: str
    status: Status = "draft"
    business_profile: BusinessProfile = msgspec.field(default_factory=BusinessProfile)
    authorized_representative: Representative = msgspec.field(default_factory=Representative)
    attestation_accepted: bool = False
    attested_at: str | None = None
    submitted_at: str | None = None
    rejection_reason: str | None = None
    reviewed_at: str | None = None
    slack_notification_status: SlackStatus = "not_queued"
    slack_notification_job_id: str | None = None
    slack_notification_error: str | None = None
    created_at: str
    updated_at: str


class KybDraft(Body, kw_only=True):
    """What a draft or a submission sends: any part of the profile (a field sent replaces
    the stored one; ``address`` as a whole)."""

    business_profile: dict[str, Any] | UnsetType = UNSET
    authorized_representative: dict[str, Any] | UnsetType = UNSET
    attestation_accepted: bool | UnsetType = UNSET


class Prefill(msgspec.Struct, rename="camel", kw_only=True):
    business_profile: BusinessProfile
    authorized_representative: Representative


class KybView(msgspec.Struct, rename="camel", kw_only=True):
    status: Literal["missing", "draft", "submitted", "approved", "rejected"]
    submission: KybSubmission | None
    prefill: Prefill


class KybReview(Body, kw_only=True):
    """The operator's decision on a submitted profile."""

    decision: Literal["approve", "reject"]
    rejection_reason: str | None = None


# What a submission must hold, by the reference's fields (its example fills these; a
# registration id and a display name are optional).
REQUIRED_PROFILE = ("legalName", "entityType", "country", "website", "useCase", "expectedUsage")
REQUIRED_ADDRESS = ("street", "city", "postalCode", "country")
REQUIRED_PERSON = ("name", "title", "email", "phone")


def _text(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where}: a string", field=where)
    value = value.strip()
    if len(value) > MAX_FIELD:
        raise ValidationError(f"{where}: at most {MAX_FIELD} characters", field=where)
    return value or None


def _checked(kind: type[Any], where: str, given: dict[str, Any], current: Any) -> Any:
    """``current`` with the fields of ``given`` (camelCase) put in, each checked."""
    names = {f.encode_name: f.name for f in msgspec.structs.fields(kind)}
    changes: dict[str, Any] = {}
    for key, value in given.items():
        if key not in names:
            raise ValidationError(f"{where}.{key}: not a field of {where}", field=f"{where}.{key}")
        if key == "address":
            if value is not None and not isinstance(value, dict):
                raise ValidationError(f"{where}.address: an object", field=f"{where}.address")
            changes["address"] = (
                None if value is None else _checked(Address, f"{where}.address", value, Address())
            )
            continue
        changes[names[key]] = _field(f"{where}.{key}", key, _text(f"{where}.{key}", value))
    return msgspec.structs.replace(current, **changes)


def _field(where: str, key: str, value: str | None) -> str | None:
    """One field's own rule (country codes, the website, e-mail, phone)."""
    if value is None:
        return None
    if key == "country" and not _COUNTRY.match(value.upper()):
        raise ValidationError(f"{where}: an ISO 3166 country code such as US", field=where)
    if key == "country":
        return value.upper()
    if key == "website" and not _WEBSITE.match(value):
        raise ValidationError(f"{where}: an http(s) URL", field=where)
    if key == "email" and not _EMAIL.match(value):
        raise ValidationError(f"{where}: an e-mail address", field=where)
    if key == "phone":
        e164 = to_e164(value)
        if e164 is None:
            raise ValidationError(
                f"{where}: a phone number (E.164, e.g. +12015551234)", field=where
            )
        return e164
    return value


def drafted(current: KybSubmission, body: KybDraft, now: str) -> KybSubmission:
    """The submission with the draft's fields put in (each checked); a submitted or approved
    one is not the customer's to change."""
    if current.status in ("submitted", "approved"):
        raise Conflict(
            f"the business verification is {current.status}; "
            + (
                "wait for the operator's review"
                if current.status == "submitted"
                else "ask the operator to change an approved profile"
            )
        )
    row = current
    if body.business_profile is not UNSET:
        profile = _checked(
            BusinessProfile, "businessProfile", body.business_profile, row.business_profile
        )
        row = msgspec.structs.replace(row, business_profile=profile)
    if body.authorized_representative is not UNSET:
        person = _checked(
            Representative,
            "authorizedRepresentative",
            body.authorized_representative,
            row.authorized_representative,
        )
        row = msgspec.structs.replace(row, authorized_representative=person)
    if body.attestation_accepted is not UNSET:
        row = msgspec.structs.replace(row, attestation_accepted=body.attestation_accepted)
    return msgspec.structs.replace(row, status="draft", updated_at=now)


def missing(row: KybSubmission) -> list[str]:
    """Each field a submission still lacks, by its path in the body."""
    profile = msgspec.to_builtins(row.business_profile)
    person = msgspec.to_builtins(row.authorized_representative)
    gaps = [f"businessProfile.{k}" for k in REQUIRED_PROFILE if not profile.get(k)]
    address = profile.get("address") or {}
    gaps += [f"businessProfile.address.{k}" for k in REQUIRED_ADDRESS if not address.get(k)]
    gaps += [f"authorizedRepresentative.{k}" for k in REQUIRED_PERSON if not person.get(k)]
    if not row.attestation_accepted:
        gaps.append("attestationAccepted")
    return gaps


def submitted(row: KybSubmission, now: str) -> KybSubmission:
    """The complete, attested profile submitted for review (else a 400 naming every gap)."""
    gaps = missing(row)
    if gaps:
        raise ValidationError(
            f"{gaps[0]}: required to submit; missing: {', '.join(gaps)}"
            + (" (attestationAccepted must be true)" if "attestationAccepted" in gaps else ""),
            field=gaps[0],
        )
    return msgspec.structs.replace(
        row,
        status="submitted",
        attested_at=now,
        submitted_at=now,
        rejection_reason=None,
        reviewed_at=None,
        updated_at=now,
    )


def reviewed(row: KybSubmission, review: KybReview, now: str) -> KybSubmission:
    """The operator's decision on a submitted profile."""
    if row.status != "submitted":
        raise Conflict(f"only a submitted business verification is reviewed; this is {row.status}")
    if review.decision == "approve":
        return msgspec.structs.replace(
            row, status="approved", rejection_reason=None, reviewed_at=now, updated_at=now
        )
    reason = _text("rejectionReason", review.rejection_reason)
    if reason is None:
        raise ValidationError(
            "rejectionReason: say why, in words the customer can act on", field="rejectionReason"
        )
    return msgspec.structs.replace(
        row, status="rejected", rejection_reason=reason, reviewed_at=now, updated_at=now
    )
