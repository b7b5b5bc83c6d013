"""A SIP connection's passwords and PIN never reach a log line: a real ``serve`` at DEBUG,
every answer and every line it wrote grepped for them."""

from __future__ import annotations

import aiohttp
from cryptography.fernet import Fernet

from tests import routerproc

TOKEN = "secrets-test-admin-token-" + "x" * 16
SECRETS = ("in-Secret-5d1c0e", "out-Secret-9a7b33", "604281", "new-Secret-12ab90")


async def test_connection_passwords_never_reach_a_log_line_or_an_answer(tmp_path):
    serve = await routerproc.start(
        "--log-level", "DEBUG", "serve",
        env={
            "PORT": "0", "ROUTER_HOST": "127.0.0.1", "ROUTER_ADMIN_TOKEN": TOKEN,
            "ROUTER_EMBEDDED_DIR": str(tmp_path / "valkey"),
            "ROUTER_SECRETS_KEY": Fernet.generate_key().decode(),
        },
    )  # fmt: skip
    base, headers = await serve.url(), {"Authorization": f"Bearer {TOKEN}"}
    answers = []
    body = {
        "name": "PBX",
        "inbound": {"username": "in", "password": SECRETS[0], "pin": SECRETS[2]},
        "outbound": {"address": "pbx.example", "username": "out", "password": SECRETS[1]},
    }
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{base}/v1/sip-connections", json=body) as resp:
                assert resp.status == 201
                answers.append(await resp.text())
                connection = await resp.json()
            url = f"{base}/v1/sip-connections/{connection['id']}"
            for method, payload in (
                ("PATCH", {"inbound": {"password": SECRETS[3]}}),
                ("PATCH", {"inbound": {"password": "x" * 200}}),  # refused: logged as a 400
                ("GET", None),
            ):
                async with http.request(method, url, json=payload) as resp:
                    answers.append(await resp.text())
            number = {"e164": "+12015550951", "dispatchMetadataTemplate": {},
                      "sipConnectionInstallationId": connection["id"]}  # fmt: skip
            async with http.post(f"{base}/v1/phone-numbers/import", json=number) as resp:
                assert resp.status == 201
                answers.append(await resp.text())
            for path in ("/v1/audit", "/metrics", "/v1/sip-connections"):
                async with http.get(f"{base}{path}") as resp:
                    answers.append(await resp.text())
    finally:
        assert await serve.stop() == 0
    written = "\n".join([*serve.output, *serve.errors, *map(str, serve.log)])
    assert '"request_refused"' in written or "request_refused" in written  # DEBUG was on
    for secret in SECRETS:
        assert secret not in written
        assert not any(secret in answer for answer in answers)
