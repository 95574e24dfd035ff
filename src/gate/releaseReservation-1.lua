-- wagate gate: give back one reservation (release), or roll back one just taken (rollback).
-- Called by src/gate/redis.ts. Idempotent: a reservation already gone is a no-op.
--
-- The counter keys of a reservation (the recipient's slot zset Z, the portfolio tier zset TU, the care
-- window W) are rebuilt from the reservation itself (business, recipient and sender, stored encoded as
-- in key names by decide.lua / load) and the namespace's key base: the caller only knows the message
-- id. They carry the same {hash tag} as KEYS[1], so they live in the same slot on Redis Cluster.
-- KEYS[1]  R   the reservation, string "<cat>|<m>|<t>|<at>|<fep>|<business>|<to>|<sender>"
-- ARGV[1]  message_id
-- ARGV[2]  "1" = rollback of a reservation decide() refused after the script took it: also undo the
--          free-entry-point mark it set; "0" = an ordinary release (the mark stays, as at Meta)
-- ARGV[3]  the namespace's key base ("<prefix>:gate:{<prefix>}")
-- Returns  1 released, 0 nothing held

local r = redis.call('GET', KEYS[1])
if not r then return 0 end
local _, m, t, at, fep, biz, to, sender = string.match(r, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
if not at then return redis.error_reply('release.lua: unreadable reservation at ' .. KEYS[1]) end
local id, base = ARGV[1], ARGV[3]
local z = base .. ':Z:' .. to
if m == '1' then redis.call('ZREM', z, 'm:' .. id) end
if t == '1' then
  local tp = 't:' .. biz .. ':'
  redis.call('ZREM', z, tp .. id)
  -- The recipient stays in the portfolio count until 24 h after its latest remaining tier send.
  local latest = false
  local list = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
  for i = 1, #list, 2 do
    if string.sub(list[i], 1, #tp) == tp then latest = list[i + 1] end
  end
  local tu = base .. ':TU:' .. biz
  if latest then redis.call('ZADD', tu, latest, to) else redis.call('ZREM', tu, to) end
end
if ARGV[2] == '1' and fep == '1' then
  local w = base .. ':W:' .. sender .. ':' .. to
  if redis.call('HGET', w, 'fep') == at then redis.call('HDEL', w, 'fep') end
end
redis.call('DEL', KEYS[1])
return 1
