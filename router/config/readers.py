"""Reading one variable: each reader knows its variable's default (written here once, shown
in the reference) and refuses a malformed value with a ``ConfigError`` naming it."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import phonenumbers

from router.errors import ConfigError
from router.money import cents


class Reader(Protocol):
    @property
    def default(self) -> str:
        """As the configuration reference shows it ("": unset)."""
        ...

    def read(self, env: Mapping[str, str], name: str) -> Any: ...


def value_of(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, spaces trimmed; None when unset or empty."""
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Text:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        return value_of(env, name) or self.default or None


@dataclass(frozen=True)
class Url:
    schemes: tuple[str, ...]
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        value = value_of(env, name)
        if value is None:
            return self.default or None
        parts = urlsplit(value)
        if parts.scheme not in self.schemes or not (parts.netloc or parts.path):
            raise ConfigError(
                name, f"must be a URL with scheme {' or '.join(self.schemes)}, got {value!r}"
            )
        return value.rstrip("/")


@dataclass(frozen=True)
class Switch:
    """1/0 (and true/false, yes/no, on/off)."""

    on: bool = False

    @property
    def default(self) -> str:
        return "on" if self.on else "off"

    def read(self, env: Mapping[str, str], name: str) -> bool:
        value = (value_of(env, name) or "").lower()
        if not value:
            return self.on
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"must be on or off (1 or 0), got {value!r}")


@dataclass(frozen=True)
class Seconds:
    value: float
    upper: float

    @property
    def default(self) -> str:
        return f"{self.value:g}"

    def read(self, env: Mapping[str, str], name: str) -> float:
        value = value_of(env, name)
        if value is None:
            return self.value
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= self.upper:
            raise ConfigError(
                name, f"must be a number of seconds above 0, at most {self.upper:g}, got {value!r}"
            )
        return seconds


@dataclass(frozen=True)
class Count:
    value: int
    lower: int
    upper: int

    @property
    def default(self) -> str:
        return str(self.value)

    def read(self, env: Mapping[str, str], name: str) -> int:
        value = value_of(env, name)
        if value is None:
            return self.value
        if not (value.isascii() and value.isdigit()) or not self.lower <= int(value) <= self.upper:
            raise ConfigError(
                name, f"must be a whole number from {self.lower} to {self.upper}, got {value!r}"
            )
        return int(value)


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.choices[0]

    def read(self, env: Mapping[str, str], name: str) -> str:
        value = (value_of(env, name) or self.default).lower()
        if value not in self.choices:
            raise ConfigError(name, f"must be {', '.join(self.choices)}, got {value!r}")
        return value


@dataclass(frozen=True)
class Port:
    default: str = "8080"

    def read(self, env: Mapping[str, str], name: str) -> int:
        value = value_of(env, name) or self.default
        if not (value.isascii() and value.isdigit()) or not 0 <= int(value) < 65536:
            raise ConfigError(name, f"must be a TCP port number (0: any free one), got {value!r}")
        return int(value)


@dataclass(frozen=True)
class Host:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        value = value_of(env, name)
        if value is None or value == "localhost":
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ConfigError(name, f"must be an IP address or localhost, got {value!r}") from exc
        return value


@dataclass(frozen=True)
class Region:
    default: str = "US"

    def read(self, env: Mapping[str, str], name: str) -> str:
        value = (value_of(env, name) or self.default).upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(name, f"must be an ISO 3166 region phonenumbers knows, got {value!r}")
        return value


@dataclass(frozen=True)
class Ed25519Key:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> bytes | None:
        value = value_of(env, name)
        if value is None:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(name, "must be base64") from exc
        if len(raw) != 32:
            raise ConfigError(name, f"must be a 32-byte ed25519 public key, got {len(raw)} bytes")
        return raw


@dataclass(frozen=True)
class FernetKeys:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        value = value_of(env, name)
        if value is None:
            return None
        try:
            from cryptography.fernet import Fernet

            for key in value.split(","):
                Fernet(key.strip())
        except ValueError as exc:
            raise ConfigError(
                name,
                "must be Fernet keys (comma-separated; the first encrypts): python -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            ) from exc
        return value


@dataclass(frozen=True)
class Shards:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> str | None:
        return value_of(env, name)  # checked against ROUTER_STREAM_SHARDS in load()


@dataclass(frozen=True)
class Regions:
    """A comma-separated list of ISO 3166 regions phonenumbers knows (unset: None)."""

    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
        value = value_of(env, name)
        if value is None:
            return None
        regions = tuple(dict.fromkeys(r.strip().upper() for r in value.split(",") if r.strip()))
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if not regions or unknown:
            raise ConfigError(
                name, f"must list ISO 3166 regions phonenumbers knows, got {unknown or value!r}"
            )
        return regions


@dataclass(frozen=True)
class Pid:
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> int | None:
        value = value_of(env, name)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()):
            raise ConfigError(name, f"must be a process id, got {value!r}")
        return int(value)


@dataclass(frozen=True)
class Variable:
    name: str
    reader: Reader
    section: str  # the reference's grouping (docs/configuration.md)
    doc: str


@dataclass(frozen=True)
class Names:
    """A comma-separated subset of ``choices`` (unset: the default's)."""

    choices: tuple[str, ...]
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> tuple[str, ...]:
        value = value_of(env, name) or self.default
        names = tuple(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
        unknown = [n for n in names if n not in self.choices]
        if unknown:
            raise ConfigError(
                name, f"must list some of {', '.join(self.choices)}, got {', '.join(unknown)}"
            )
        return names


@dataclass(frozen=True)
class PriceTable:
    """``provider:type=monthly+upfront`` entries in dollars, comma-separated, read into exact
    cents: ``{"twilio:local": (115, 0)}``."""

    providers: tuple[str, ...]
    default: str = ""

    def read(self, env: Mapping[str, str], name: str) -> dict[str, tuple[int, int]]:
        table: dict[str, tuple[int, int]] = {}
        text = value_of(env, name) or self.default
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, equals, amounts = item.partition("=")
            provider, colon, kind = key.partition(":")
            monthly, plus, upfront = amounts.partition("+")
            if not (equals and colon and plus) or provider not in self.providers:
                raise ConfigError(
                    name, f"{item!r}: provider:type=monthly+upfront in dollars, e.g. "
                    f"twilio:local=1.15+0 (providers: {', '.join(self.providers)})",
                )  # fmt: skip
            if kind not in ("local", "toll_free", "mobile"):
                raise ConfigError(name, f"{item!r}: the type is local, toll_free or mobile")
            try:
                table[f"{provider}:{kind}"] = (cents(monthly), cents(upfront))
            except ValueError as exc:
                raise ConfigError(name, f"{item!r}: {exc}") from None
        return table
