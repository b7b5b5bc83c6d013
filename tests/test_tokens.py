"""Our HS256 tokens, read back by livekit-api's TokenVerifier; the keyed HS256 is PyJWT's."""

from __future__ import annotations

import time

import jwt
import pytest
from livekit import api

from router.outbound.tokens import TOKEN_TTL_S, KeyedHS256, install, room_admin_token

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


def test_installed_hs256_still_vets_keys_and_signatures() -> None:
    install()
    install()  # idempotent
    assert isinstance(jwt.get_algorithm_by_name("HS256"), KeyedHS256)
    # PyJWT's own refusal of an asymmetric key as an HMAC secret survives the memoization.
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"iss": KEY}, pem, algorithm="HS256")
    token = jwt.encode({"iss": KEY, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)["iss"] == KEY
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET + "x", algorithms=["HS256"], issuer=KEY)
