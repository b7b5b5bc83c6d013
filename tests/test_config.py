"""Configuration is read once; a malformed value names its variable."""

from __future__ import annotations

import base64

import pytest

from router import config
from router.errors import ConfigError


def test_defaults():
    cfg = config.load({})
    assert (cfg.port, cfg.default_region, cfg.redis_url) == (8080, "US", None)
    assert cfg.dry_run is True
    assert cfg.livekit_webhooks_enabled is False
    assert cfg.telnyx_api_base_url == "https://api.telnyx.com/v2"


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
    assert cfg.default_region == "GB"
    assert cfg.webhook_allow_private is True
    assert cfg.telnyx_public_key == bytes(32)
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
    assert (cfg.admin_token, cfg.header_timeout_s) == ("x" * 32, 2.5)
    assert (cfg.max_connections, cfg.redis_deadline_s, cfg.body_timeout_s) == (300, 1.0, 10.0)
