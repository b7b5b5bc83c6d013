"""``numbers import`` (CSV or JSON lines, validated row by row), ``numbers add`` /
``list`` and ``agents create`` / ``list`` over the admin API."""

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
    ]
    (tmp_path / "numbers.jsonl").write_text("\n".join(lines) + "\n")
    code, out, _ = await cli(router, "numbers", "import", str(tmp_path / "numbers.jsonl"))
    assert code == 1
    assert "imported 1, refused 2 of 3 rows" in out
    assert "line 2:" in out
    assert "line 3: VALIDATION_ERROR: agentId" in out


async def test_agents_and_numbers_through_the_api(router):
    code, out, _ = await cli(
        router, "agents", "create", "--name", "Desk", "--livekit-agent-name", "desk-agent"
    )
    assert code == 0
    agent_id = out.strip()
    assert agent_id.startswith("ag_")  # alone on stdout: AGENT=$(...)
    code, out, _ = await cli(
        router, "numbers", "add", "(201) 555-0123", "--agent", agent_id,
        "--template", json.dumps(TEMPLATE), "--label", "Front desk",
    )  # fmt: skip
    assert code == 0
    row = json.loads(out)
    assert row["e164"] == "+12015550123"
    assert row["dispatchMetadataTemplate"] == TEMPLATE
    code, out, _ = await cli(router, "numbers", "list")
    assert code == 0
    assert "+12015550123" in out
    assert agent_id in out
    assert "1 number" in out
    code, _, err = await cli(router, "numbers", "add", "+12015550123", "--agent", agent_id)
    assert code == 1
    assert "already imported (CONFLICT, HTTP 409)" in err
    code, out, _ = await cli(router, "agents", "list", "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [agent_id]


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
