"""``route preview``: the decision for such a call, nothing dispatched."""

from __future__ import annotations

import json

from tests.cli.conftest import cli
from tests.conftest import create_agent, import_number


async def test_route_preview_prints_the_decision(router, twirp):
    standin, _ = twirp
    agent = await create_agent(router)
    await import_number(router, e164="+12015550123", agentId=agent["id"])
    code, out, err = await cli(
        router, "route", "preview", "--dialed", "201-555-0123",
        "--header", "Diversion: <sip:+16175550177@pbx>;reason=unconditional",
    )  # fmt: skip
    assert code == 0, err
    decision = json.loads(out)
    assert (decision["action"], decision["agentName"]) == ("dispatch", "support-agent")
    assert decision["forwardedFromNumber"] == "+16175550177"
    assert standin.requests == 0  # nothing dispatched
    code, out, _ = await cli(router, "route", "preview", "--dialed", "+12015550999", "--json")
    assert (code, json.loads(out)["action"]) == (1, "reject")  # as simulate: 1 on a reject
    assert len(out.splitlines()) == 1  # --json: compact, one line
    code, _, err = await cli(router, "route", "preview", "--header", "no colon")
    assert code == 2
    assert "--header wants 'NAME: VALUE'" in err
