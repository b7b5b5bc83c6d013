"""Where the router's files are: the data it reads at run time (``TEMPLATES_DIR``) and the
first run's files — ``serve`` with nothing set keeps a generated admin token (and, with no
LiveKit, a local webhook secret) in the per-user data directory (``server.firstrun``); the CLI
on the same machine reads them from there (``cli.token``)."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from platformdirs import user_data_dir

# The data the router reads at run time (carrier answers, the console page): the repository's
# top-level templates/, which the build maps into the package as router.templates (setup.py),
# read through importlib.resources so that a wheel and an editable install both find it.
TEMPLATES_DIR: Traversable = resources.files("router.templates")

APP_NAME = "call-router"
TOKEN_FILE = "admin-token"
LIVEKIT_SECRET_FILE = "livekit-api-secret"
LOCAL_LIVEKIT_KEY = "APIlocaldev"


def data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def kept(name: str) -> str | None:
    """A first run's file on this machine (``TOKEN_FILE``, ``LIVEKIT_SECRET_FILE``), if any."""
    path = data_dir() / name
    return (path.read_text().strip() or None) if path.is_file() else None
