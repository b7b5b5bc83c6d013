"""Our HS256 tokens, read back by livekit-api's TokenVerifier; the keyed HS256 is PyJWT's."""

from __future__ import annotations

import time

import jwt
import pytest
from livekit import api

from router.outbound.tokens import TOKEN_TTL_S, KeyedHS256, room_admin_token, verify_token

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
