"""The rest of the API on the command line (#31 part 4): agents and numbers shown, updated and
deleted by id or by name/number, organizations and their keys — as real processes against a
real router."""

from __future__ import annotations

import json

from router.store.orgs import KEY_PREFIX
from tests.cli.conftest import cli


async def _ok(router: object, *args: str) -> str:
    code, out, err = await cli(router, *args)
    assert code == 0, err
    return out


async def test_agents_and_numbers_by_name(router):
    agent = (await _ok(router, "agents", "create", "--name", "Support",
                       "--livekit-agent-name", "support-agent")).strip()  # fmt: skip
    shown = json.loads(await _ok(router, "agents", "show", "support-agent", "--json"))
    assert shown["id"] == agent
    # For people: indented JSON, one field a line (its layout kept, not escaped flat).
    for_people = await _ok(router, "agents", "show", "support-agent")
    assert json.loads(for_people) == shown
    assert f'\n  "id": "{agent}",\n' in for_people
    updated = json.loads(await _ok(router, "agents", "update", "support-agent", "--prompt",
                                   "Be brief", "--json"))  # fmt: skip
    assert updated["prompt"] == "Be brief"
    await _ok(router, "numbers", "add", "+12015550123", "--template", "{}", "--label", "Desk")
    number = json.loads(await _ok(router, "numbers", "update", "+1 201 555 0123", "--agent",
                                  "support-agent", "--clear", "label", "--json"))  # fmt: skip
    assert (number["agentId"], number["label"]) == (agent, None)
    assert json.loads(await _ok(router, "numbers", "show", number["id"], "--json"))["e164"] == (
        "+12015550123"
    )
    code, _, err = await cli(router, "numbers", "update", "+12015550123")
    assert (code, "nothing to change" in err) == (1, True)
    code, _, err = await cli(router, "agents", "show", "nobody")
    assert (code, "no agent is named 'nobody'" in err) == (1, True)
    assert json.loads(await _ok(router, "numbers", "release", "+12015550123", "--json")) == {
        "released": True
    }
    await _ok(router, "agents", "delete", agent)
    assert (await _ok(router, "agents", "list")).splitlines()[1:] == ["none"]


async def test_organizations_and_keys(router):
    made = json.loads(await _ok(router, "orgs", "create", "--name", "Acme", "--number-limit",
                                "5", "--json"))  # fmt: skip
    listing = (await _ok(router, "orgs", "list")).splitlines()
    assert listing[0].split()[0] == "id"
    assert any(line.startswith(made["id"]) and line.endswith("Acme") for line in listing)
    changed = json.loads(await _ok(router, "orgs", "update", made["id"], "--number-limit", "7",
                                   "--json"))  # fmt: skip
    assert changed["numberLimit"] == 7
    assert (await _ok(router, "keys", "list", made["id"])).splitlines()[1:] == ["none"]
    code, key, err = await cli(router, "keys", "create", made["id"], "--name", "ci",
                               "--role", "viewer")  # fmt: skip
    assert code == 0
    assert "not shown again" in err
    assert key.strip().startswith(KEY_PREFIX)  # the key alone on stdout
    # It works, and once revoked it does not.
    code, _, _ = await cli(router, "orgs", "show", made["id"], ROUTER_ADMIN_TOKEN=key.strip())
    assert code == 0
    [row] = (await _ok(router, "keys", "list", made["id"])).splitlines()[1:]
    key_id = row.split()[0]
    await _ok(router, "keys", "revoke", made["id"], key_id)
    code, _, err = await cli(router, "orgs", "show", made["id"], ROUTER_ADMIN_TOKEN=key.strip())
    assert (code, "the token from ROUTER_ADMIN_TOKEN was refused" in err) == (1, True)
    await _ok(router, "orgs", "delete", made["id"])


async def test_integrations_never_echo_a_secret(make_router):
    from tests import routerproc
    from tests.conftest import ADMIN_TOKEN
    from tests.provisioning.conftest import SECRETS_KEY

    router = await make_router(worker=False, ROUTER_SECRETS_KEY=SECRETS_KEY)
    env = routerproc.over_http(router, ADMIN_TOKEN)
    secret = "twilio-token-that-must-not-show-0123"
    done = await routerproc.run(
        "integrations", "twilio", "default", "--account-sid", "AC" + "1" * 32,
        "--auth-token", "-", env=env, stdin=(secret + "\n").encode(),
    )  # fmt: skip
    assert done.code == 0, done.err
    listed = await routerproc.run("integrations", "list", "default", env=env)
    assert listed.out.splitlines()[0].startswith("carrier")
    assert any(
        line.split()[:3] == ["twilio", "yes", "AC" + "1" * 32] for line in listed.out.splitlines()
    )
    removed = await routerproc.run("integrations", "remove", "default", "twilio", env=env)
    assert removed.code == 0
    for output in (done, listed, removed):
        assert secret not in output.out + output.err
