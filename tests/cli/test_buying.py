"""``numbers search`` and ``numbers buy`` as a customer runs them: the offers with their
prices, a purchase, and its retry with the same key buying nothing more."""

from __future__ import annotations

import json

from tests.cli.conftest import cli
from tests.provisioning.conftest import TWILIO_NUMBER
from tests.provisioning.conftest import shop as shop  # the fixture, shared
from tests.provisioning.conftest import twilio_api as twilio_api  # the fixture, shared


async def test_search_and_buy_from_the_command_line(shop):
    await shop.verified()
    await shop.credits(500)
    code, out, _ = await cli(shop.router, "numbers", "search", "--area-code", "201")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("number ")
    assert lines[1].split()[:3] == [TWILIO_NUMBER, "Newark,", "NJ"]
    assert "$  1.15 $  0.00  twilio" in lines[1]
    code, out, _ = await cli(shop.router, "numbers", "buy", TWILIO_NUMBER, "--template",
                             '{"line": "sales"}', "--key", "cli-buy-1")  # fmt: skip
    assert code == 0, out
    assert out.startswith(f"bought {TWILIO_NUMBER} from twilio: pn_")
    code, out, _ = await cli(shop.router, "numbers", "buy", TWILIO_NUMBER, "--template",
                             '{"line": "sales"}', "--key", "cli-buy-1", "--json")  # fmt: skip
    assert (code, json.loads(out)["e164"]) == (0, TWILIO_NUMBER)
    assert shop.twilio.inventory.bought == [TWILIO_NUMBER]
    code, _, err = await cli(shop.router, "numbers", "buy", "+14155550102", "--template", "{}")
    assert code == 1
    assert "NOT_OFFERED" in err or "not from a recent search" in err
    assert "retry with --key cli-" in err
