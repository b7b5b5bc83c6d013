"""Configuration is read once; a malformed value names its variable."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from router import config
from router.errors import ConfigError


def test_defaults():
    cfg = config.load({})
    assert (cfg.http.port, cfg.default_region, cfg.redis.url) == (8080, "US", None)
    assert cfg.dry_run is True
    assert (cfg.livekit, cfg.livekit_keys, cfg.provisioning) == (None, None, None)
    assert cfg.telnyx.api_base_url == "https://api.telnyx.com/v2"
    assert (cfg.timings.lease_s, cfg.timings.lease_renew_s) == (5.0, 1.5)


def test_full_configuration():
    key = base64.b64encode(bytes(32)).decode()
    cfg = config.load(
        {
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "LIVEKIT_URL": "wss://x.livekit.cloud",
            "LIVEKIT_API_KEY": "k",
            "LIVEKIT_API_SECRET": "sekrit-value-xyz",
            "TELNYX_PUBLIC_KEY": key,
            "ROUTER_DEFAULT_REGION": "gb",
            "ROUTER_WEBHOOK_ALLOW_PRIVATE": "1",
            "PORT": "9000",
        }
    )
    assert cfg.dry_run is False
    assert cfg.livekit == config.LiveKit(
        url="wss://x.livekit.cloud", api_key="k", api_secret="sekrit-value-xyz"
    )
    assert cfg.provisioning == config.Provisioning(reconcile_s=300.0, reconcile_fix=True)
    assert cfg.default_region == "GB"
    assert cfg.webhook_allow_private is True
    assert cfg.telnyx.public_key == bytes(32)
    assert "sekrit" not in repr(cfg)  # no secret in the repr


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"REDIS_URL": "mysql://x"}, "REDIS_URL"),
        ({"LIVEKIT_URL": "wss://x"}, "LIVEKIT_API_KEY"),
        ({"LIVEKIT_URL": "https:///twirp", "LIVEKIT_API_KEY": "k"}, "LIVEKIT_URL"),
        ({"LIVEKIT_API_KEY": "k"}, "LIVEKIT_API_SECRET"),
        ({"LIVEKIT_SIP_URI": "http://x"}, "LIVEKIT_SIP_URI"),
        ({"TELNYX_PUBLIC_KEY": "not base64!"}, "TELNYX_PUBLIC_KEY"),
        ({"TELNYX_PUBLIC_KEY": base64.b64encode(b"short").decode()}, "TELNYX_PUBLIC_KEY"),
        ({"ROUTER_DEFAULT_REGION": "XX"}, "ROUTER_DEFAULT_REGION"),
        ({"ROUTER_WEBHOOK_ALLOW_PRIVATE": "maybe"}, "ROUTER_WEBHOOK_ALLOW_PRIVATE"),
        ({"ROUTER_PUBLIC_URL": "ftp://x"}, "ROUTER_PUBLIC_URL"),
        ({"PORT": "\uff18\uff10"}, "PORT"),  # fullwidth "80": isdigit() is true
        ({"ROUTER_STREAM_SHARDS": "²"}, "ROUTER_STREAM_SHARDS"),
        ({"ROUTER_HEADER_TIMEOUT_S": "0"}, "ROUTER_HEADER_TIMEOUT_S"),
        ({"ROUTER_BODY_TIMEOUT_S": "soon"}, "ROUTER_BODY_TIMEOUT_S"),
        ({"ROUTER_REDIS_DEADLINE_S": "15"}, "ROUTER_REDIS_DEADLINE_S"),  # past Twilio's 15 s
        ({"ROUTER_MAX_CONNECTIONS": "5"}, "ROUTER_MAX_CONNECTIONS"),
        ({"ROUTER_WEB_PROCESSES": "0"}, "ROUTER_WEB_PROCESSES"),
        ({"ROUTER_WEB_PROCESSES": "two"}, "ROUTER_WEB_PROCESSES"),
        ({"ROUTER_HOST": "example.com"}, "ROUTER_HOST"),
        ({"ROUTER_ADMIN_TOKEN": "short"}, "ROUTER_ADMIN_TOKEN"),
        ({"ROUTER_ADMIN_TOKEN": "short", "ROUTER_HOST": "0.0.0.0"}, "ROUTER_ADMIN_TOKEN"),
        ({"ROUTER_LEASE_S": "1", "ROUTER_LEASE_RENEW_S": "1"}, "ROUTER_LEASE_RENEW_S"),
        ({"ROUTER_WORKER_SHARDS": "1", "ROUTER_STREAM_SHARDS": "1"}, "ROUTER_WORKER_SHARDS"),
        ({"ROUTER_SUPERVISOR_PID": "-1"}, "ROUTER_SUPERVISOR_PID"),
        ({"ROUTER_PROVISIONING": "sometimes"}, "ROUTER_PROVISIONING"),
    ],
)
def test_malformed_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as err:
        config.load(env)
    assert err.value.variable == variable
    assert variable in str(err.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_a_short_admin_token_is_for_loopback_only(host):
    assert config.load({"ROUTER_ADMIN_TOKEN": "dev", "ROUTER_HOST": host}).admin_token == "dev"


def test_a_long_admin_token_and_the_limits_are_taken_as_given():
    cfg = config.load(
        {
            "ROUTER_ADMIN_TOKEN": "x" * 32,
            "ROUTER_HEADER_TIMEOUT_S": "2.5",
            "ROUTER_MAX_CONNECTIONS": "300",
            "ROUTER_REDIS_DEADLINE_S": "1",
        }
    )
    assert (cfg.admin_token, cfg.http.header_timeout_s) == ("x" * 32, 2.5)
    assert (cfg.http.max_connections, cfg.redis.deadline_s) == (300, 1.0)
    assert cfg.http.body_timeout_s == 10.0


def test_sections_are_present_only_when_configured():
    # Webhook keys without the server API: webhooks verified, dispatches recorded (dry run).
    keys_only = config.load({"LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s"})
    assert keys_only.livekit_keys == config.LiveKitKeys(api_key="k", api_secret="s")
    assert (keys_only.livekit, keys_only.provisioning) == (None, None)
    server = {
        "LIVEKIT_URL": "https://lk.example",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
    }
    assert config.load({**server, "ROUTER_PROVISIONING": "off"}).provisioning is None
    assert config.load(server).provisioning is not None


def test_every_variable_is_documented_as_the_code_reads_it():
    """docs/configuration.md holds the table VARIABLES generates (regenerate it with
    ``python -c 'from router import config; print(config.reference())'``)."""
    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    assert config.reference() in page


def test_no_module_but_config_reads_the_environment():
    package = Path(config.__file__).parents[1]
    readers = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.parent.name != "config" and re.search(r"os\.environ|getenv", path.read_text())
    ]
    assert readers == []
