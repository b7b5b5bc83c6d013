"""Our HS256 tokens, read back by livekit-api's TokenVerifier; the keyed HS256 is PyJWT's."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import jwt.api_jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.api_jws import PyJWS
from livekit import api

from router.outbound import tokens
from router.outbound.tokens import (
    TOKEN_TTL_S,
    KeyedHS256,
    SegmentCheckedJWS,
    room_admin_token,
    verify_token,
)

KEY, SECRET = "APIkey123", "s3cret-s3cret-s3cret-s3cret-s3cret-123"


def test_token_carries_the_room_admin_grant_for_one_room() -> None:
    claims = api.TokenVerifier(KEY, SECRET).verify(room_admin_token(KEY, SECRET, "room-7"))
    assert claims.video is not None
    assert (claims.video.room_admin, claims.video.room) == (True, "room-7")
    # The same grant AccessToken would sign (the SDK's reference minter), field for field.
    reference = api.AccessToken(KEY, SECRET).with_grants(
        api.VideoGrants(room_admin=True, room="room-7")
    )
    expected = api.TokenVerifier(KEY, SECRET).verify(reference.to_jwt())
    assert (claims.identity, claims.video.room_admin, claims.video.room) == (
        expected.identity,
        expected.video.room_admin if expected.video else None,
        expected.video.room if expected.video else None,
    )


def test_token_is_short_lived_and_bound_to_the_secret() -> None:
    token = room_admin_token(KEY, SECRET, "room-7")
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)
    assert raw["exp"] - raw["nbf"] == TOKEN_TTL_S
    assert abs(raw["nbf"] - time.time()) < 5
    with pytest.raises(jwt.InvalidSignatureError):
        api.TokenVerifier(KEY, "another-secret-another-secret-12345").verify(token)
    expired = room_admin_token(KEY, SECRET, "room-7", ttl_s=-120)
    with pytest.raises(jwt.ExpiredSignatureError):
        api.TokenVerifier(KEY, SECRET).verify(expired)


def test_our_hs256_leaves_pyjwt_unchanged_and_still_vets_keys() -> None:
    """No global patching: PyJWT's own HS256 stays PyJWT's; ours refuses what PyJWT refuses."""
    assert not isinstance(jwt.get_algorithm_by_name("HS256"), KeyedHS256)
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(jwt.InvalidKeyError):
        room_admin_token(KEY, pem, "room-7")
    token = room_admin_token(KEY, SECRET, "room-7")
    assert verify_token(token, KEY, SECRET)["video"]["room"] == "room-7"
    with pytest.raises(jwt.InvalidSignatureError):
        verify_token(token, KEY, SECRET + "x")
    with pytest.raises(jwt.InvalidIssuerError):
        verify_token(token, "APIother", SECRET)
    expired = room_admin_token(KEY, SECRET, "room-7", ttl_s=-120)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(expired, KEY, SECRET)


_SEGMENT_BYTES = st.binary(max_size=40) | st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/!. ", max_size=40
).map(str.encode)


def _outcome(check: Any, segment: bytes) -> tuple[str, bytes | str]:
    try:
        return "ok", check(segment, "payload")
    except jwt.DecodeError as exc:
        return "refused", str(exc)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        _SEGMENT_BYTES,
        st.binary(max_size=30).map(lambda b: base64.urlsafe_b64encode(b)),  # padded, valid
        st.binary(max_size=30).map(lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")),
    )
)
def test_the_segment_check_is_pyjwts_own(segment: bytes) -> None:
    """Same accepts, same refusals, same message, same bytes as PyJWT's generator version."""
    ours = _outcome(SegmentCheckedJWS._decode_base64url_segment, segment)
    theirs = _outcome(PyJWS._decode_base64url_segment, segment)
    assert ours == theirs


def test_the_fast_check_is_what_verifies_webhooks_and_pyjwt_is_untouched() -> None:
    """Our verifier's JWS layer is the segment-checked one; PyJWT's module-level API keeps
    its own (the override is not global), and PyJWT still has the method we replace."""
    assert "_decode_base64url_segment" in vars(PyJWS)
    assert isinstance(tokens._verifier._jws, SegmentCheckedJWS)
    assert not isinstance(jwt.api_jwt._jwt_global_obj._jws, SegmentCheckedJWS)
    token = room_admin_token(KEY, SECRET, "room-7")
    head, payload, sig = token.split(".")
    with pytest.raises(jwt.DecodeError):  # junk in a segment: refused before any MAC
        verify_token(f"{head}.{payload}!.{sig}", KEY, SECRET)


def _claims_outcome(check: Any, token: str) -> tuple[str, object]:
    try:
        return "ok", check(token)
    except jwt.PyJWTError as exc:
        return type(exc).__name__, None


@pytest.mark.parametrize(
    "payload",
    [
        # SOON, LATER, PAST: times filled in when the test runs (the ids stay the same in
        # every process collecting them: pytest-xdist's workers must agree on the tests).
        b'{"iss":"APIkey123","exp":SOON,"sha256":"x"}',
        b'{"iss":"APIkey123","exp":SOON,"nbf":LATER}',
        b'{"iss":"APIkey123","exp":PAST}',
        b'{"iss":"APIkey123","exp":1e400}',
        b'{"iss":"APIother","exp":SOON}',
        b'{"iss":"APIkey123"}',
        b'{"iss":"APIkey123","exp":"soon"}',
        b'["iss","APIkey123"]',
        b'"a string"',
        b"{not json",
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_claims_read_by_msgspec_meet_pyjwts_verdicts(payload: bytes) -> None:
    """Our payload hook (msgspec) and stock PyJWT (json.loads) agree on every verdict: the
    same claims, or the same error class (a number out of range reads as DecodeError in both,
    worded differently)."""
    now = int(time.time())
    for name, at in ((b"SOON", now + 60), (b"LATER", now + 600), (b"PAST", now - 600)):
        payload = payload.replace(name, b"%d" % at)
    token = jwt.api_jws.PyJWS().encode(payload, SECRET, algorithm="HS256")
    ours = _claims_outcome(lambda t: verify_token(t, KEY, SECRET), token)
    stock = _claims_outcome(
        lambda t: jwt.decode(
            t, SECRET, algorithms=["HS256"], issuer=KEY, leeway=60, options={"require": ["exp"]}
        ),
        token,
    )
    assert ours == stock
