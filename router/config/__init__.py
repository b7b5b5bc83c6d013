"""Configuration: read the environment once into a frozen Struct.

Nothing else in the router reads ``os.environ`` (the CLI's own variables: ``load_client``). A
missing or malformed value stops start-up with a ``ConfigError`` that names the variable. Every
variable, its default and what it does are in ``VARIABLES``, from which
``docs/configuration.md`` is generated.
"""

from __future__ import annotations

from router.config.client import ClientConfig, environment, load_client
from router.config.files import (
    LIVEKIT_SECRET_FILE,
    LOCAL_LIVEKIT_KEY,
    TEMPLATES_DIR,
    TOKEN_FILE,
    data_dir,
    kept,
)
from router.config.reading import MIN_ADMIN_TOKEN, check_web_processes, load, loopback
from router.config.sections import (
    Config,
    Http,
    Limits,
    LiveKit,
    LiveKitKeys,
    Outbound,
    Provisioning,
    RedisConfig,
    Telnyx,
    Timings,
    Twilio,
)
from router.config.variables import MAX_WEB_PROCESSES, NAMES, VARIABLES, reference

__all__ = [
    "LIVEKIT_SECRET_FILE",
    "LOCAL_LIVEKIT_KEY",
    "MAX_WEB_PROCESSES",
    "MIN_ADMIN_TOKEN",
    "NAMES",
    "TEMPLATES_DIR",
    "TOKEN_FILE",
    "VARIABLES",
    "ClientConfig",
    "Config",
    "Http",
    "Limits",
    "LiveKit",
    "LiveKitKeys",
    "Outbound",
    "Provisioning",
    "RedisConfig",
    "Telnyx",
    "Timings",
    "Twilio",
    "check_web_processes",
    "data_dir",
    "environment",
    "kept",
    "load",
    "load_client",
    "loopback",
    "reference",
]
