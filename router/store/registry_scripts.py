"""The registry's Lua scripts (``store.registry`` runs them): each write or lookup is one script
over keys in the ``{registry}`` slot, so its checks and its effects are atomic."""

from __future__ import annotations

SAVE_NUMBER = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if cur then return 'EXISTS' end
  if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1 then return 'CONFLICT' end
elseif cur ~= ARGV[2] then
  return 'STALE'
end
if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[6]) == 0 then return 'NO_AGENT' end
-- a trunk id belongs to one organization: the one that claimed it (its managed trunk), or
-- the one whose numbers are on it already
if ARGV[11] ~= '' and ARGV[11] ~= ARGV[10] then
  local owner = redis.call('HGET', KEYS[12], ARGV[11])
  if not owner then
    for _, member in ipairs(redis.call('SRANDMEMBER', KEYS[8], 2)) do
      local other = member ~= ARGV[1] and redis.call('HGET', KEYS[1], member)
      if other then
        owner = cjson.decode(other)['organizationId']
        if type(owner) ~= 'string' then owner = ARGV[14] end
        break
      end
    end
  end
  if owner and owner ~= ARGV[13] then return 'FOREIGN_TRUNK' end
end
if ARGV[2] == '' and ARGV[12] ~= '' and redis.call('ZCARD', KEYS[11]) >= tonumber(ARGV[12]) then
  return 'LIMIT'
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[4])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[1])
end
if ARGV[5] ~= ARGV[6] then
  if ARGV[5] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[5], -1) end
  if ARGV[6] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[6], 1) end
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[9], ARGV[1])
  redis.call('ZREM', KEYS[11], ARGV[1])
end
if ARGV[2] == '' then
  local seq = redis.call('INCR', KEYS[10])
  redis.call('ZADD', KEYS[9], seq, ARGV[1])
  redis.call('ZADD', KEYS[11], seq, ARGV[1])
end
if ARGV[8] == '1' then redis.call('SREM', KEYS[6], ARGV[1]) end
if ARGV[10] ~= '' then redis.call('SREM', KEYS[7], ARGV[1]) end
if ARGV[3] ~= '' then
  if ARGV[9] == '1' then redis.call('SADD', KEYS[6], ARGV[1]) end
  if ARGV[11] ~= '' then redis.call('SADD', KEYS[8], ARGV[1]) end
end
redis.call('PUBLISH', ARGV[7], redis.call('INCR', KEYS[5]))
return 'OK'
"""

SAVE_AGENT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if cur then return 'EXISTS' end
elseif cur ~= ARGV[2] then
  return 'STALE'
end
if ARGV[3] == '' then
  if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > 0 then return 'LINKED' end
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  if ARGV[2] == '' then
    local seq = redis.call('INCR', KEYS[5])
    redis.call('ZADD', KEYS[4], seq, ARGV[1])
    redis.call('ZADD', KEYS[6], seq, ARGV[1])
  end
end
redis.call('PUBLISH', ARGV[4], redis.call('INCR', KEYS[3]))
return 'OK'
"""

# One round trip for the worker: number row by E.164 (or by id), its linked agent, and the
# registry version they were read at (for the in-process cache).
LOOKUP = """
local version = redis.call('GET', KEYS[4]) or '0'
local id = ARGV[2]
if ARGV[1] ~= '' then id = redis.call('HGET', KEYS[2], ARGV[1]) end
if not id then return {false, false, version} end
local row = redis.call('HGET', KEYS[1], id)
if not row then return {false, false, version} end
local agent = false
local aid = cjson.decode(row)['agentId']
if type(aid) == 'string' then agent = redis.call('HGET', KEYS[3], aid) end
return {row, agent, version}
"""

# Rows recorded with a LiveKit inbound trunk id, for trunks that hide the dialed number (at
# most two: one is a match, two is ambiguous), from the trunk's index set.
BY_TRUNK = """
local version = redis.call('GET', KEYS[3]) or '0'
local found = {}
for _, id in ipairs(redis.call('SRANDMEMBER', KEYS[4], 2)) do
  local row = redis.call('HGET', KEYS[1], id)
  if row then table.insert(found, row) end
end
local agent = false
if #found == 1 then
  local aid = cjson.decode(found[1])['agentId']
  if type(aid) == 'string' then agent = redis.call('HGET', KEYS[2], aid) end
end
return {found, agent, version}
"""

# The indexes by what is looked up (shared landing numbers, trunk ids) and the list orders
# (creation time, then id: what pages follow), built once from the rows when a registry
# written before them is first opened. The trunk sets' names come from
# the rows: they share the {registry} slot, so the script stays on one node in a cluster.
INDEX_VERSION = "4"
REINDEX = """
if redis.call('GET', KEYS[3]) == ARGV[1] then return -1 end
redis.call('DEL', KEYS[2], KEYS[4], KEYS[6])
-- the list orders, all and per organization: creation time, then id, numbered from the
-- sequence (rows from before organizations belong to ARGV[5])
local function order(hash, zset, per_org)
  local all = redis.call('HGETALL', hash)
  local places = {}
  local orgs = {}
  for i = 1, #all, 2 do
    local row = cjson.decode(all[i + 1])
    local org = row['organizationId']
    if type(org) ~= 'string' then org = ARGV[5] end
    orgs[all[i]] = org
    redis.call('DEL', per_org .. org)
    table.insert(places, row['createdAt'] .. ' ' .. all[i])
  end
  table.sort(places)
  for _, place in ipairs(places) do
    local id = string.sub(place, string.find(place, ' ', 1, true) + 1)
    local seq = redis.call('INCR', KEYS[7])
    redis.call('ZADD', zset, seq, id)
    redis.call('ZADD', per_org .. orgs[id], seq, id)
  end
end
order(KEYS[5], KEYS[6], ARGV[4])
order(KEYS[1], KEYS[4], ARGV[3])
local rows = redis.call('HGETALL', KEYS[1])
for i = 1, #rows, 2 do
  local row = cjson.decode(rows[i + 1])
  if row['sharedLanding'] == true then redis.call('SADD', KEYS[2], rows[i]) end
  local trunk = row['sipTrunkId']
  if type(trunk) == 'string' and trunk ~= '' then
    redis.call('SADD', ARGV[2] .. trunk, rows[i])
  end
end
redis.call('SET', KEYS[3], ARGV[1])
return #rows / 2
"""
