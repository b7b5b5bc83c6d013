"""``audit``: an organization's writes, newest first, as an operator reads them."""

from __future__ import annotations

from tests.cli.conftest import cli
from tests.conftest import ADMIN


async def test_audit_in_the_cli(router):
    made = await router.post("/v1/organizations", json={"name": "Acme"}, headers=ADMIN)
    org = (await made.json())["id"]
    body = {"name": "ci", "role": "admin"}
    made = await router.post(f"/v1/organizations/{org}/api-keys", json=body, headers=ADMIN)
    key = (await made.json())["id"]
    assert (await router.delete(f"/v1/organizations/{org}/api-keys/{key}", headers=ADMIN)).ok
    code, out, err = await cli(router, "audit", "--organization", org, "--limit", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert "operator (operator)  api_key.revoked" in lines[0]
    assert "api_key.created" in lines[1]
