"""Carrier numbers pointed at the router with each organization's own account
(``provisioning.carriers``): Twilio (voice URL, Elastic SIP Trunk, verified caller IDs) and
Telnyx (its application), put back on release, refusals kept in the carrier's words — against
stand-ins that speak the carriers' formats."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from router.store import keys
from tests.conftest import (
    ADMIN,
    create_agent,
    import_number,
)
from tests.provisioning.conftest import (
    PUBLIC,
    ROUTERS_APP,
    SECRETS_KEY,
    TWILIO_SID,
    TWILIO_TOKEN_,
    managed,
    setup_status,
    telnyx_router,
    twilio_router,
)


async def test_carrier_credentials_are_encrypted_and_never_shown(make_router, redis):
    from cryptography.fernet import Fernet

    router = await make_router(ROUTER_SECRETS_KEY=SECRETS_KEY)
    body = {"accountSid": "AC" + "1" * 32, "authToken": "the-twilio-auth-token-123"}
    url = "/v1/organizations/default/integrations/twilio"
    view = await (await router.put(url, json=body, headers=ADMIN)).json()
    assert view == {"carrier": "twilio", "configured": True, "accountSid": body["accountSid"]}
    stored = await redis.hget("router:{registry}:integrations", "default:twilio")
    assert b"the-twilio-auth-token-123" not in stored
    assert json.loads(Fernet(SECRETS_KEY).decrypt(stored))["authToken"] == body["authToken"]
    listed = await (
        await router.get("/v1/organizations/default/integrations", headers=ADMIN)
    ).json()
    assert "the-twilio-auth-token-123" not in json.dumps(listed)
    audit = await (await router.get("/v1/audit", headers=ADMIN)).json()
    assert "the-twilio-auth-token-123" not in json.dumps(audit)
    # A new key first, the old one after: old tokens still decrypt (rotation).
    rotated = await make_router(
        ROUTER_SECRETS_KEY=f"{Fernet.generate_key().decode()},{SECRETS_KEY}"
    )
    again = await (
        await rotated.get("/v1/organizations/default/integrations", headers=ADMIN)
    ).json()
    assert again[0]["configured"] is True
    # The old key dropped: the list still answers, naming the one it cannot read and the fix
    # (it was an opaque 500); an import that needs them says the same.
    dropped = await make_router(ROUTER_SECRETS_KEY=Fernet.generate_key().decode())
    resp = await dropped.get("/v1/organizations/default/integrations", headers=ADMIN)
    assert resp.status == 200
    twilio, telnyx = await resp.json()
    assert twilio["configured"] is True
    assert "twilio credentials of organization default do not decrypt" in twilio["issue"]
    assert "ROUTER_SECRETS_KEY" in twilio["issue"]
    assert "PUT /v1/organizations/default/integrations/twilio" in twilio["issue"]
    assert telnyx == {"carrier": "telnyx", "configured": False}
    assert (await router.delete(url, headers=ADMIN)).status == 200


async def test_a_telnyx_number_is_pointed_at_the_router_and_back(make_router, twirp, telnyx_api):
    standin, base = telnyx_api
    router = await telnyx_router(make_router, base)
    agent = await create_agent(router)
    unknown = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+13125550999", "source": "telnyx", "agentId": agent["id"]},
        headers=ADMIN,
    )
    body = await unknown.json()
    assert unknown.status == 400
    assert body["field"] == "e164"
    assert "not a number of the organization's Telnyx account" in body["error"]
    row = await import_number(router, e164="+13125550111", source="telnyx", agentId=agent["id"])
    number = standin.numbers["1293384261075731499"]
    assert number["connection_id"] == ROUTERS_APP
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    assert "+13125550111" in list(managed(twirp[0].sip)[0].numbers)  # the bridged leg's way in
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert number["connection_id"] == "1111111111111111111"  # restored


async def test_telnyx_refusing_keeps_the_row_with_telnyxs_words(make_router, twirp, telnyx_api):
    standin, base = telnyx_api
    router = await telnyx_router(make_router, base)
    agent = await create_agent(router)
    standin.fail_numbers_next = [500]
    row = await import_number(router, e164="+13125550111", source="telnyx", agentId=agent["id"])
    status = row["setupStatus"]
    assert status["status"] == "incomplete"
    assert any("Telnyx refused" in i and "Unexpected error — boom" in i for i in status["issues"])


async def test_a_twilio_number_is_pointed_at_the_router_and_restored(
    make_router, twirp, twilio_api
):
    standin, base = twilio_api
    router = await twilio_router(make_router, base)
    agent = await create_agent(router)
    row = await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    number = standin.numbers["PN" + "1" * 32]
    assert (number["voice_url"], number["voice_method"]) == (
        f"{PUBLIC}/webhooks/twilio/voice",
        "POST",
    )
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert (number["voice_url"], number["voice_method"]) == (
        "https://demo.twilio.com/welcome/voice/",
        "GET",
    )  # what was there before


@pytest.mark.parametrize(
    ("field", "value", "before"),
    [
        ("voice_application_sid", "AP" + "3" * 32, "application AP" + "3" * 32),
        ("trunk_sid", "TK" + "4" * 32, "trunk TK" + "4" * 32),
    ],
)
async def test_a_twilio_number_on_an_application_or_trunk_is_taken_off_it_and_put_back(
    make_router, twirp, twilio_api, field, value, before
):
    """Twilio ignores the voice URL of a number on a TwiML application or a SIP trunk (a
    trunk overrides both): pointing the voice URL alone left such a number 'ready' while its
    calls never came. Import empties them; release puts them back."""
    standin, base = twilio_api
    router = await twilio_router(make_router, base)
    sid = "PN" + "1" * 32
    standin.numbers[sid][field] = value
    assert standin.routes_to(sid) == before
    agent = await create_agent(router)
    row = await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    assert standin.routes_to(sid) == f"POST {PUBLIC}/webhooks/twilio/voice"
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert standin.routes_to(sid) == before
    assert standin.numbers[sid]["voice_url"] == "https://demo.twilio.com/welcome/voice/"


async def test_a_verified_caller_id_is_imported_outbound_only_and_unknown_is_400(
    make_router, twirp, twilio_api
):
    standin, base = twilio_api
    router = await twilio_router(make_router, base)
    row = await import_number(router, e164="+14155550188", source="twilio")
    assert (row["source"], row["direction"]) == ("verified_caller_id", "outbound")
    assert standin.updates == []  # nothing pointed: no calls come in on it
    unknown = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+14155550177", "source": "twilio", "dispatchMetadataTemplate": {}},
        headers=ADMIN,
    )
    body = await unknown.json()
    assert unknown.status == 400
    assert "neither a number nor a verified caller ID" in body["error"]


async def test_twilio_refusing_keeps_the_row_and_says_twilios_words(make_router, twirp, twilio_api):
    standin, base = twilio_api
    router = await twilio_router(make_router, base)
    agent = await create_agent(router)
    standin.fail_next = [500]
    row = await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    issues = " ".join(row["setupStatus"]["issues"])
    assert "Twilio refused to point the number's voice URL (500): Internal Server Error" in issues
    # Retried: the next reconcile (here asked for, with fix) points it and the row is ready.
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    assert any("Twilio refused" in c for c in report["organizations"][0]["carrier"])
    await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    number = standin.numbers["PN" + "1" * 32]
    assert number["voice_url"] == f"{PUBLIC}/webhooks/twilio/voice"
    assert (await setup_status(router, row["id"]))["status"] == "ready"


async def test_the_stand_in_speaks_twilios_format(twilio_api):
    """The official twilio client (the reference for Twilio's REST shapes) reads the
    stand-in's answers and sends the same update the router sends."""
    from twilio.rest import Client

    standin, base = twilio_api
    client = Client(TWILIO_SID, TWILIO_TOKEN_)
    client.api.base_url = base.removesuffix("/2010-04-01")

    def use() -> tuple[list[Any], Any]:
        found = client.incoming_phone_numbers.list(phone_number="+14155550199")
        updated = client.incoming_phone_numbers("PN" + "1" * 32).update(
            voice_url=f"{PUBLIC}/webhooks/twilio/voice", voice_method="POST",
            voice_application_sid="", trunk_sid="",
        )  # fmt: skip
        return found, updated

    found, updated = await asyncio.to_thread(use)
    assert [n.phone_number for n in found] == ["+14155550199"]
    assert updated.voice_method == "POST"
    assert standin.updates == [
        {"VoiceUrl": f"{PUBLIC}/webhooks/twilio/voice", "VoiceMethod": "POST",
         "VoiceApplicationSid": "", "TrunkSid": ""}
    ]  # fmt: skip


async def test_sip_trunk_mode_attaches_the_number_to_an_elastic_sip_trunk(
    make_router, twirp, twilio_api
):
    from tests.carrier_helpers import LIVEKIT_SIP_URI

    standin, base = twilio_api
    trunking = base.removesuffix("/2010-04-01") + "/v1"
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY, TWILIO_API_BASE_URL=base,
        TWILIO_TRUNKING_BASE_URL=trunking, ROUTER_PUBLIC_URL=PUBLIC,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )  # fmt: skip
    body = {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN_}
    url = "/v1/organizations/default/integrations/twilio"
    assert (await router.put(url, json=body, headers=ADMIN)).status == 200
    agent = await create_agent(router)
    row = await import_number(
        router, e164="+14155550199", source="twilio", mode="sip_trunk", agentId=agent["id"]
    )
    assert row["setupStatus"]["status"] == "ready", row["setupStatus"]["issues"]
    [(trunk_sid, trunk)] = standin.trunks.items()
    assert trunk["friendly_name"] == "call-router/default"
    assert [o["sip_url"] for o in standin.originations[trunk_sid]] == [
        "sip:router-test.sip.livekit.cloud"
    ]
    assert standin.attached(trunk_sid) == ["PN" + "1" * 32]
    assert standin.updates == []  # the voice URL is not touched in this mode
    # A second number reuses the trunk and its origination URI.
    standin.numbers["PN" + "2" * 32] = {
        **standin.numbers["PN" + "1" * 32],
        "sid": "PN" + "2" * 32,
        "phone_number": "+14155550198",
    }
    await import_number(
        router, e164="+14155550198", source="twilio", mode="sip_trunk", agentId=agent["id"]
    )
    assert len(standin.trunks) == 1
    assert len(standin.originations[trunk_sid]) == 1
    standin.numbers["PN" + "1" * 32]["trunk_sid"] = None  # taken off the trunk by hand
    report = await (
        await router.post("/v1/provisioning/reconcile", json={"fix": True}, headers=ADMIN)
    ).json()
    assert report["organizations"][0]["carrier"] == [
        f"+14155550199: Twilio number is not on the Elastic SIP Trunk {trunk_sid} any more"
    ]
    assert standin.attached(trunk_sid) == ["PN" + "1" * 32, "PN" + "2" * 32]
    # A trunk with more numbers than one page holds (Twilio pages its lists): the number is
    # found on a later page, so it is not reported as taken off.
    for i in range(1001):
        sid = f"PN{i:032x}"
        standin.numbers[sid] = {"sid": sid, "phone_number": f"+1555{i:07d}", "trunk_sid": trunk_sid}
    report = await (await router.post("/v1/provisioning/reconcile", json={}, headers=ADMIN)).json()
    assert report["organizations"][0].get("carrier") is None
    for i in range(1001):
        del standin.numbers[f"PN{i:032x}"]
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    assert standin.attached(trunk_sid) == ["PN" + "2" * 32]  # detached on release
    wrong = await router.post(
        "/v1/phone-numbers/import",
        json={"e164": "+12015550100", "mode": "sip_trunk", "agentId": agent["id"]},
        headers=ADMIN,
    )
    assert (await wrong.json())["field"] == "mode"


async def test_the_trunking_stand_in_speaks_twilios_format(twilio_api):
    """The official twilio client reads the trunking stand-in's lists and creations."""
    from twilio.rest import Client

    _, base = twilio_api
    client = Client(TWILIO_SID, TWILIO_TOKEN_)
    client.trunking.base_url = base.removesuffix("/2010-04-01")

    def use() -> list[str]:
        trunk = client.trunking.v1.trunks.create(friendly_name="call-router/default")
        trunk_ctx = client.trunking.v1.trunks(trunk.sid)
        trunk_ctx.origination_urls.create(
            friendly_name="LiveKit", sip_url="sip:x.sip.livekit.cloud", priority=10,
            weight=10, enabled=True,
        )  # fmt: skip
        trunk_ctx.phone_numbers.create(phone_number_sid="PN" + "1" * 32)
        names = [t.friendly_name for t in client.trunking.v1.trunks.list()]
        urls = [o.sip_url for o in trunk_ctx.origination_urls.list()]
        numbers = [n.sid for n in trunk_ctx.phone_numbers.list()]
        return [*names, *urls, *numbers]

    assert await asyncio.to_thread(use) == [
        "call-router/default",
        "sip:x.sip.livekit.cloud",
        "PN" + "1" * 32,
    ]


async def test_each_organizations_telnyx_account_has_its_own_application_and_key(
    make_router, twirp, telnyx_api
):
    """Telnyx applications and webhook keys belong to an account: an organization on its own
    Telnyx account gets an application made there (the stand-in refuses to point a number at
    another account's), and its webhooks are checked with its account's public key."""
    from urllib.parse import urlencode

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from tests.carrier_helpers import LIVEKIT_SIP_URI, TELNYX_PRIVATE, TELNYX_PUBLIC, telnyx_headers

    standin, base = telnyx_api
    standin.accounts["KEY_org_b"] = "account-b"
    standin.numbers["2293384261075731499"] = {
        "id": "2293384261075731499", "phone_number": "+13125550222", "account": "account-b",
        "connection_id": None, "record_type": "phone_number",
    }  # fmt: skip
    b_key = Ed25519PrivateKey.generate()
    b_public = base64.b64encode(b_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    router = await make_router(
        ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY, TELNYX_CONNECTION_ID=ROUTERS_APP,
        TELNYX_API_BASE_URL=base, ROUTER_PUBLIC_URL=PUBLIC, TELNYX_PUBLIC_KEY=TELNYX_PUBLIC,
        LIVEKIT_SIP_URI=LIVEKIT_SIP_URI,
    )  # fmt: skip
    org = await (await router.post("/v1/organizations", json={"name": "B"}, headers=ADMIN)).json()
    url = f"/v1/organizations/{org['id']}/integrations/telnyx"
    foreign = {"apiKey": "KEY_org_b", "connectionId": ROUTERS_APP}
    refused = await router.put(url, json=foreign, headers=ADMIN)
    assert refused.status == 400  # the platform's application is not on B's account
    assert (await refused.json())["field"] == "connectionId"
    bad_key = await router.put(
        url, json={"apiKey": "KEY_org_b", "publicKey": "eA=="}, headers=ADMIN
    )
    assert (await bad_key.json())["field"] == "publicKey"
    body = {"apiKey": "KEY_org_b", "publicKey": b_public.decode()}
    view = await (await router.put(url, json=body, headers=ADMIN)).json()
    made = view["connectionId"]
    assert standin.applications[made]["account"] == "account-b"
    assert standin.applications[made]["voice_url"] == f"{PUBLIC}/webhooks/telnyx"
    row = await import_number(
        router, e164="+13125550222", source="telnyx", organizationId=org["id"],
        dispatchMetadataTemplate={"a": 1},
    )  # fmt: skip
    assert row["setupStatus"]["sipConnectionReady"] is True, row["setupStatus"]["issues"]
    assert standin.numbers["2293384261075731499"]["connection_id"] == made

    async def texml(connection: str, key: Any, sid: str) -> int:
        form = urlencode({"CallSid": sid, "From": "+14155550100", "To": "+13125550222",
                          "ConnectionId": connection}).encode()  # fmt: skip
        resp = await router.post(
            "/webhooks/telnyx", data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     **telnyx_headers(form, key=key)},
        )  # fmt: skip
        return resp.status

    assert await texml(made, b_key, "v3:b1") == 200  # B's account, B's key
    assert await texml(made, TELNYX_PRIVATE, "v3:b2") == 403  # the platform's key: not B's
    assert await texml(ROUTERS_APP, TELNYX_PRIVATE, "v3:p1") == 200  # the platform's own
    assert await texml(ROUTERS_APP, b_key, "v3:p2") == 403


async def test_a_number_pointed_by_an_older_router_is_put_back_on_release(
    make_router, twirp, twilio_api, redis
):
    """The state an older router kept ("<method> <url>" in carrierPrevious) still says where
    the number's calls went before: released, the number's voice URL is put back there."""
    standin, base = twilio_api
    router = await twilio_router(make_router, base)
    agent = await create_agent(router)
    row = await import_number(router, e164="+14155550199", source="twilio", agentId=agent["id"])
    sid = "PN" + "1" * 32
    older = (
        b'{"livekitTrunkId":null,"ok":true,"issue":null,"checkedAt":"2026-11-01T00:00:00Z",'
        b'"carrierNumberId":"' + sid.encode() + b'","carrierPrevious":"GET https://older.example/'
        b'voice","twilioPrevious":null}'
    )
    await redis.hset(keys.PROVISIONING, row["id"], older)
    assert (await router.delete(f"/v1/phone-numbers/{row['id']}", headers=ADMIN)).status == 200
    number = standin.numbers[sid]
    assert (number["voice_url"], number["voice_method"]) == ("https://older.example/voice", "GET")
