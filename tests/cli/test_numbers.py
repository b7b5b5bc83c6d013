"""``numbers import`` (a file of CSV or JSON lines validated row by row, or one number with
its flags), ``numbers list`` and ``agents create`` / ``list`` over the admin API."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import cli
from tests.conftest import ADMIN, create_agent

TEMPLATE = {"greeting": "Calls for {{dialedNumber}}", "forwardedFrom": "{{forwardedFromNumber}}"}


async def test_numbers_import_csv_validates_row_by_row(router, tmp_path: Path):
    agent = await create_agent(router)
    template = json.dumps({"greeting": "{{label}}"}).replace('"', '""')
    (tmp_path / "numbers.csv").write_text(
        "e164,agentId,label,dispatchMetadataTemplate,direction\n"
        f'+12015550123,{agent["id"]},Desk,"{template}",inbound\n'
        f"not-a-number,{agent['id']},Bad,,inbound\n"
        f"(201) 555-0124,{agent['id']},National,,both\n"
        f"+12015550123,{agent['id']},Again,,inbound\n"
        "+12015550125,ag_missing,Ghost,,inbound\n"
    )
    code, out, err = await cli(router, "numbers", "import", str(tmp_path / "numbers.csv"))
    assert code == 1
    assert "imported 2, refused 3 of 5 rows" in out
    assert "line 3: VALIDATION_ERROR: e164" in out
    assert "line 5: CONFLICT" in out
    assert "line 6: VALIDATION_ERROR: agentId" in out
    assert "5/5" in err  # the progress bar reached the end
    rows = await (await router.get("/v1/phone-numbers", headers=ADMIN)).json()
    assert sorted(r["e164"] for r in rows) == ["+12015550123", "+12015550124"]
    assert next(r for r in rows if r["label"] == "Desk")["dispatchMetadataTemplate"] == {
        "greeting": "{{label}}"
    }


async def test_numbers_import_json_lines(router, tmp_path: Path):
    agent = await create_agent(router)
    lines = [
        json.dumps({"e164": "+12015550126", "agentId": agent["id"]}),
        "{broken",
        json.dumps({"e164": "+12015550127"}),
        # An agent by its LiveKit agent name, as everywhere on the command line.
        json.dumps({"e164": "+12015550128", "agentId": "support-agent"}),
        json.dumps({"e164": "+12015550129", "agentId": "nobody-agent"}),
    ]
    (tmp_path / "numbers.jsonl").write_text("\n".join(lines) + "\n")
    code, out, _ = await cli(router, "numbers", "import", str(tmp_path / "numbers.jsonl"))
    assert code == 1
    assert "imported 2, refused 3 of 5 rows" in out
    assert "line 2:" in out
    assert "line 3: VALIDATION_ERROR: agentId" in out
    assert "line 5: VALIDATION_ERROR: agentId: agent nobody-agent does not exist" in out
    rows = await (await router.get("/v1/phone-numbers", headers=ADMIN)).json()
    assert {r["e164"]: r["agentId"] for r in rows}["+12015550128"] == agent["id"]


async def test_agents_and_numbers_through_the_api(router):
    code, out, _ = await cli(
        router, "agents", "create", "--name", "Desk", "--livekit-agent-name", "desk-agent"
    )
    assert code == 0
    agent_id = out.strip()
    assert agent_id.startswith("ag_")  # alone on stdout: AGENT=$(...)
    # One number is an import too (the API's word), its agent by LiveKit agent name.
    code, out, _ = await cli(
        router, "numbers", "import", "(201) 555-0123", "--agent", "desk-agent",
        "--template", json.dumps(TEMPLATE), "--label", "Front desk",
    )  # fmt: skip
    assert code == 0
    row = json.loads(out)
    assert (row["e164"], row["agentId"]) == ("+12015550123", agent_id)
    assert row["dispatchMetadataTemplate"] == TEMPLATE
    code, out, _ = await cli(router, "numbers", "list")
    assert code == 0
    assert "+12015550123" in out
    assert agent_id in out
    assert "1 number" in out
    # ``add`` is the same command (the name earlier READMEs used).
    code, _, err = await cli(router, "numbers", "add", "+12015550123", "--agent", agent_id)
    assert code == 1
    assert "already imported (CONFLICT, HTTP 409)" in err
    code, out, _ = await cli(
        router, "numbers", "add", "+12015550123", "--upsert", "--label", "Desk", "--json"
    )
    assert (code, json.loads(out)["label"], json.loads(out)["agentId"]) == (0, "Desk", agent_id)
    code, out, _ = await cli(router, "agents", "list", "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [agent_id]


async def test_every_writable_field_has_its_flag(router):
    """The fields the API takes on an agent and a number, set from the command line: the
    supervision policy, a shared landing with its origin overrides, the overflow policy —
    agents named by LiveKit agent name wherever one is taken."""
    code, out, err = await cli(
        router, "agents", "create", "--name", "Night", "--livekit-agent-name", "night-agent",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    night = json.loads(out)["id"]
    code, out, err = await cli(
        router, "agents", "create", "--name", "Desk", "--livekit-agent-name", "desk-agent",
        "--join-timeout", "5", "--no-show", "fallback_agent", "--fallback-agent", "night-agent",
        "--max-concurrent-calls", "3", "--json",
    )  # fmt: skip
    assert code == 0, err
    desk = json.loads(out)
    assert (desk["joinTimeoutS"], desk["noShow"], desk["fallbackAgentId"]) == (
        5,
        "fallback_agent",
        night,
    )
    assert desk["maxConcurrentCalls"] == 3
    code, out, err = await cli(
        router, "numbers", "import", "+442079460000", "--agent", "desk-agent",
        "--shared-landing", "true",
        "--origin-overrides", json.dumps([{"match": "+1617", "agentId": night}]),
        "--overflow", "overflow_agent", "--overflow-agent", "night-agent", "--json",
    )  # fmt: skip
    assert code == 0, err
    row = json.loads(out)
    assert (row["e164"], row["sharedLanding"], row["overflowAgentId"]) == (
        "+442079460000",
        True,
        night,
    )
    assert row["originOverrides"][0]["match"] == "+1617"
    code, out, err = await cli(
        router, "numbers", "update", "+442079460000", "--shared-landing", "no", "--overflow",
        "transfer", "--overflow-transfer-to", "tel:+442079460001", "--json",
    )  # fmt: skip
    assert code == 0, err
    row = json.loads(out)
    assert (row["sharedLanding"], row["overflowTransferTo"]) == (False, "tel:+442079460001")


async def test_flags_that_cannot_be_read_are_usage_errors(router, tmp_path: Path):
    code, _, err = await cli(router, "numbers", "import", "+12015550123", "--template", "{oops")
    assert code == 2
    assert "--template: invalid a JSON object value" in err or "not JSON" in err
    code, _, err = await cli(
        router, "numbers", "import", "+12015550123", "--shared-landing", "maybe"
    )
    assert (code, "true or false" in err) == (2, True)
    (tmp_path / "rows.csv").write_text("e164\n+12015550124\n")
    code, _, err = await cli(
        router, "numbers", "import", str(tmp_path / "rows.csv"), "--label", "x"
    )
    assert (code, "the flags describe one number" in err) == (2, True)
    code, _, err = await cli(router, "numbers", "import", str(tmp_path / "missing.csv"))
    assert (code, err.strip()) == (2, f"error: no such file: {tmp_path / 'missing.csv'}")
    assert (await (await router.get("/v1/phone-numbers", headers=ADMIN)).json()) == []


async def test_numbers_import_upsert_updates_what_is_there(router, tmp_path: Path):
    """Re-running an import with ``--upsert``: rows already imported are updated with the
    file's fields (a national spelling finds its E.164 row), new ones imported."""
    agent = await create_agent(router)
    (tmp_path / "first.csv").write_text(
        f"e164,agentId,label\n+12015550131,{agent['id']},Desk\n+12015550132,{agent['id']},Back\n"
    )
    assert (await cli(router, "numbers", "import", str(tmp_path / "first.csv"))).code == 0
    (tmp_path / "again.csv").write_text(
        "e164,agentId,label,direction\n"
        f"+12015550131,{agent['id']},Front desk,both\n"
        f"(201) 555-0132,{agent['id']},Back office,inbound\n"
        f"+12015550133,{agent['id']},New,inbound\n"
    )
    plain = await cli(router, "numbers", "import", str(tmp_path / "again.csv"))
    assert (plain.code, "imported 1, refused 2 of 3 rows" in plain.out) == (1, True)
    code, out, _ = await cli(router, "numbers", "import", "--upsert", str(tmp_path / "again.csv"))
    assert (code, "imported 0, updated 3, refused 0 of 3 rows" in out) == (0, True), out
    rows = await (await router.get("/v1/phone-numbers", headers=ADMIN)).json()
    assert {r["e164"]: (r["label"], r["direction"]) for r in rows} == {
        "+12015550131": ("Front desk", "both"),
        "+12015550132": ("Back office", "inbound"),
        "+12015550133": ("New", "inbound"),
    }
