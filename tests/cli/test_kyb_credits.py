"""``kyb`` and ``credits`` as an operator and a customer use them: draft in parts, submit
(refused naming what is missing, then whole), the operator approves (rejection: the
API's tests); the operator adds
credits and a retry with the same key adds nothing."""

from __future__ import annotations

import json

from tests.api.test_kyb import COMPLETE
from tests.cli.conftest import cli


async def test_business_verification_from_the_command_line(router, tmp_path):
    code, out, _ = await cli(router, "kyb", "show")
    assert (code, out.strip()) == (0, "no business verification yet: start one with kyb draft")
    code, out, _ = await cli(
        router, "kyb", "draft", "--set", "businessProfile.legalName=Acme Inc.",
        "--set", "businessProfile.address.city=San Francisco",
    )  # fmt: skip
    assert code == 0
    assert "default: draft" in out
    assert "legalName: Acme Inc." in out
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps({k: v for k, v in COMPLETE.items() if k != "attestationAccepted"})
    )
    code, _, err = await cli(router, "kyb", "submit", "--file", str(profile))
    assert code == 1
    assert "attestationAccepted must be true" in err
    code, out, _ = await cli(router, "kyb", "submit", "--file", str(profile), "--attest")
    assert code == 0
    assert "default: submitted" in out
    assert "operations team told: not_queued" in out
    code, _, err = await cli(router, "kyb", "draft", "--file", str(tmp_path / "missing.json"))
    assert code == 1
    assert err.startswith("error: --file ")
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    code, out, _ = await cli(router, "kyb", "approve", "--org", "default", "--json")
    assert (code, json.loads(out)["status"]) == (0, "approved")


async def test_credits_from_the_command_line(router):
    code, out, _ = await cli(router, "credits", "add", "default", "25.50", "--reason", "prepaid",
                             "--key", "topup-7")  # fmt: skip
    assert code == 0
    assert "$25.50 to default: balance $25.50" in out
    # The same key again (a retry after a lost answer): nothing is added twice.
    code, out, _ = await cli(router, "credits", "add", "default", "25.50", "--reason", "prepaid",
                             "--key", "topup-7")  # fmt: skip
    assert (code, "balance $25.50" in out) == (0, True)
    code, out, _ = await cli(router, "credits", "add", "default", "1", "--reason", "more",
                             "--json")  # fmt: skip
    entry = json.loads(out)
    assert (code, entry["amountCents"], entry["balanceAfterCents"]) == (0, 100, 2650)
    code, _, err = await cli(router, "credits", "add", "default", "1.005", "--reason", "x")
    assert code == 2
    assert "at most two decimals" in err
    code, out, _ = await cli(router, "credits", "show")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "default: balance $26.50"
    assert lines[1].startswith("when")
    assert "more (operator)" in lines[2]  # newest first
    assert "prepaid (operator)" in lines[3]
