"""``sip-connections`` (a customer's own SIP trunk, both directions) and ``calls outbound``
on the command line, as real processes against a real router provisioning a LiveKit
stand-in: the connection made, a number put on it, a call placed from that number, the
connection changed and deleted — its passwords read from stdin and shown nowhere."""

from __future__ import annotations

import json
from typing import Any

from tests import routerproc
from tests.conftest import ADMIN_TOKEN
from tests.provisioning.conftest import SECRETS_KEY

PASSWORD = "out-Secret-2b8e41-never-shown"


async def test_a_sip_connection_from_the_command_line(make_router: Any, twirp: Any) -> None:
    router = await make_router(
        worker=False, ROUTER_PROVISIONING=True, ROUTER_SECRETS_KEY=SECRETS_KEY
    )
    env = routerproc.over_http(router, ADMIN_TOKEN)

    async def ok(*args: str, stdin: bytes | None = None) -> str:
        done = await routerproc.run(*args, env=env, stdin=stdin)
        assert done.code == 0, done.err
        assert PASSWORD not in done.out + done.err
        return done.out

    made = json.loads(await ok(
        "sip-connections", "create", "--name", "Acme PBX", "--allowed-addresses",
        "203.0.113.7, 198.51.100.0/24", "--outbound-address", "pbx.acme.example:5061",
        "--outbound-transport", "tls", "--outbound-username", "acme-out",
        "--outbound-password", "-", "--json", stdin=f"{PASSWORD}\n".encode(),
    ))  # fmt: skip
    assert made["inbound"]["allowedAddresses"] == ["203.0.113.7/32", "198.51.100.0/24"]
    assert (made["outbound"]["transport"], made["outbound"]["passwordSet"]) == ("tls", True)
    listed = (await ok("sip-connections", "list")).splitlines()
    assert listed[0].split()[:2] == ["id", "name"]
    assert listed[1].startswith(made["id"])
    assert "203.0.113.7/32,198.51.100.0/24 / pbx.acme.example:5061" in listed[1]

    await ok("agents", "create", "--name", "Desk", "--livekit-agent-name", "desk-agent")
    await ok("numbers", "import", "+12015550971", "--direction", "both", "--agent",
             "desk-agent", "--sip-connection", made["id"])  # fmt: skip
    placed = await ok("calls", "outbound", "--from", "+12015550971", "--to", "+14155550100")
    assert "status: dispatched" in placed
    assert "dialed +14155550100" in placed
    [participant] = twirp[0].sip.participants
    assert (participant.sip_number, participant.sip_call_to) == ("+12015550971", "+14155550100")

    # In use: not deleted, and the refusal names the number.
    refused = await routerproc.run("sip-connections", "delete", made["id"], env=env)
    assert (refused.code, "+12015550971" in refused.err) == (1, True)
    changed = json.loads(await ok("sip-connections", "update", made["id"], "--name", "PBX",
                                  "--no-outbound", "--json"))  # fmt: skip
    assert (changed["name"], changed["outbound"]) == ("PBX", None)
    nothing = await routerproc.run("sip-connections", "update", made["id"], env=env)
    assert (nothing.code, "nothing to change" in nothing.err) == (1, True)
    await ok("numbers", "release", "+12015550971")
    assert json.loads(await ok("sip-connections", "delete", made["id"], "--json")) == {
        "deleted": True
    }
    assert (await ok("sip-connections", "list")).splitlines()[1:] == ["none"]
