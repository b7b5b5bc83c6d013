"""Organizations and their API keys, in the ``{registry}`` slot beside the rows they own.

An API key is stored only as its SHA-256 (a key is 32+ random characters: a fast hash is
the right one, as for GitHub's tokens), under which the key's row is found when a request
presents it. Every write bumps the registry version and publishes it, so each web process's
key cache (``registry_cache``) forgets a revoked key at once. An organization with numbers or
agents cannot be deleted (409): they are released first.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import msgspec
from redis.asyncio import Redis

from router.core.models import DEFAULT_ORG, ApiKey, Organization, Role, new_id, now_iso
from router.errors import Conflict, NotFound
from router.store import keys

KEY_PREFIX = "sk_"
_org_decoder = msgspec.json.Decoder(Organization)
_key_decoder = msgspec.json.Decoder(ApiKey)
_encode = msgspec.json.Encoder().encode

# KEYS: orgs, version, org-numbers, org-agents, org-keys, api-keys, api-key-ids
# ARGV: id, new JSON ('' deletes), channel, 'create' | 'update' | 'delete', ensure ('1': NX)
_SAVE_ORG = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[4] == 'create' then
  if cur then
    if ARGV[5] == '1' then return 'OK' end
    return 'EXISTS'
  end
elseif not cur then
  return 'MISSING'
end
if ARGV[4] == 'delete' then
  if redis.call('ZCARD', KEYS[3]) > 0 or redis.call('ZCARD', KEYS[4]) > 0 then return 'IN_USE' end
  for _, kid in ipairs(redis.call('SMEMBERS', KEYS[5])) do
    local digest = redis.call('HGET', KEYS[7], kid)
    if digest then redis.call('HDEL', KEYS[6], digest) end
    redis.call('HDEL', KEYS[7], kid)
  end
  redis.call('DEL', KEYS[5])
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('PUBLISH', ARGV[3], redis.call('INCR', KEYS[2]))
return 'OK'
"""

# KEYS: orgs, version, org-keys, api-keys, api-key-ids
# ARGV: org id, key id, digest ('' revokes), key JSON, channel
_SAVE_KEY = """
if ARGV[3] == '' then
  local digest = redis.call('HGET', KEYS[5], ARGV[2])
  if not digest or redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 0 then return 'MISSING' end
  redis.call('HDEL', KEYS[4], digest)
  redis.call('HDEL', KEYS[5], ARGV[2])
  redis.call('SREM', KEYS[3], ARGV[2])
else
  if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'NO_ORG' end
  redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
  redis.call('HSET', KEYS[5], ARGV[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[2])
end
redis.call('PUBLISH', ARGV[5], redis.call('INCR', KEYS[2]))
return 'OK'
"""

# The key's row and the registry version it was read at (for the per-process cache).
_FIND_KEY = """
return {redis.call('HGET', KEYS[1], ARGV[1]) or false, redis.call('GET', KEYS[2]) or '0'}
"""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)  # 43 characters of 256 random bits


class Organizations:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._save_org = redis.register_script(_SAVE_ORG)
        self._save_key = redis.register_script(_SAVE_KEY)
        self._find_key = redis.register_script(_FIND_KEY)

    # ---- organizations ----------------------------------------------------------------------

    async def get(self, org_id: str) -> Organization:
        raw: bytes | None = await self.redis.hget(keys.ORGS, org_id)  # type: ignore[assignment, unused-ignore]
        if raw is None:
            raise NotFound(f"organization {org_id} not found")
        return _org_decoder.decode(raw)

    async def find(self, org_id: str) -> Organization | None:
        raw: bytes | None = await self.redis.hget(keys.ORGS, org_id)  # type: ignore[assignment, unused-ignore]
        return _org_decoder.decode(raw) if raw is not None else None

    async def all(self) -> list[Organization]:
        stored: list[bytes] = await self.redis.hvals(keys.ORGS)  # type: ignore[assignment, unused-ignore]
        rows = [_org_decoder.decode(r) for r in stored]
        return sorted(rows, key=lambda o: (o.created_at, o.id))

    async def ensure_default(self) -> None:
        """The organization every row written before organizations belongs to."""
        now = now_iso()
        default = Organization(id=DEFAULT_ORG, name="Default", created_at=now, updated_at=now)
        await self._write(default, "create", ensure=True)

    async def save(self, org: Organization, *, create: bool) -> None:
        outcome = await self._write(org, "create" if create else "update")
        if outcome == "EXISTS":
            raise Conflict(f"organization {org.id} exists")
        if outcome == "MISSING":
            raise NotFound(f"organization {org.id} not found")

    async def delete(self, org_id: str) -> None:
        outcome = await self._run_org(org_id, b"", "delete")
        if outcome == "MISSING":
            raise NotFound(f"organization {org_id} not found")
        if outcome == "IN_USE":
            raise Conflict(
                f"organization {org_id} still has numbers or agents: release and delete them first"
            )

    async def _write(self, org: Organization, action: str, *, ensure: bool = False) -> str:
        return await self._run_org(org.id, _encode(org), action, ensure=ensure)

    async def _run_org(self, org_id: str, raw: bytes, action: str, *, ensure: bool = False) -> str:
        result: Any = await self._save_org(
            keys=[
                keys.ORGS,
                keys.REGISTRY_VERSION,
                keys.org_numbers(org_id),
                keys.org_agents(org_id),
                keys.org_keys(org_id),
                keys.API_KEYS,
                keys.API_KEY_IDS,
            ],
            args=[org_id, raw, keys.REGISTRY_CHANNEL, action, "1" if ensure else ""],
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    # ---- API keys ---------------------------------------------------------------------------

    async def create_key(self, org_id: str, name: str, role: Role) -> tuple[ApiKey, str]:
        """A new key of the organization: its row, and the key itself (shown once)."""
        secret = new_key()
        row = ApiKey(
            id=new_id("key"),
            organization_id=org_id,
            name=name,
            role=role,
            prefix=secret[:10],
            created_at=now_iso(),
        )
        outcome = await self._run_key(org_id, row.id, digest(secret), _encode(row))
        if outcome == "NO_ORG":
            raise NotFound(f"organization {org_id} not found")
        return row, secret

    async def revoke_key(self, org_id: str, key_id: str) -> None:
        if await self._run_key(org_id, key_id, "", b"") == "MISSING":
            raise NotFound(f"API key {key_id} not found")

    async def keys_of(self, org_id: str) -> list[ApiKey]:
        members: set[bytes] = await self.redis.smembers(keys.org_keys(org_id))  # type: ignore[assignment, unused-ignore]
        ids = sorted(members)
        if not ids:
            return []
        digests: list[bytes | None] = await self.redis.hmget(keys.API_KEY_IDS, ids)  # type: ignore[assignment, unused-ignore]
        found = [d for d in digests if d is not None]
        rows: list[bytes | None] = (
            await self.redis.hmget(keys.API_KEYS, found) if found else []  # type: ignore[assignment, unused-ignore]
        )
        out = [_key_decoder.decode(r) for r in rows if r is not None]
        return sorted(out, key=lambda k: (k.created_at, k.id))

    async def find_key_versioned(self, key_digest: str) -> tuple[ApiKey | None, int]:
        raw, version = await self._find_key(
            keys=[keys.API_KEYS, keys.REGISTRY_VERSION], args=[key_digest]
        )
        return (_key_decoder.decode(raw) if raw else None), int(version)

    async def _run_key(self, org_id: str, key_id: str, key_digest: str, raw: bytes) -> str:
        result: Any = await self._save_key(
            keys=[
                keys.ORGS,
                keys.REGISTRY_VERSION,
                keys.org_keys(org_id),
                keys.API_KEYS,
                keys.API_KEY_IDS,
            ],
            args=[org_id, key_id, key_digest, raw, keys.REGISTRY_CHANNEL],
        )
        return result.decode() if isinstance(result, bytes) else str(result)
