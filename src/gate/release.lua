-- wagate gate: give back one reservation (release), or roll back one just taken (rollback).
-- Called by src/gate/redis.ts. Idempotent: a reservation already gone is a no-op.
--
-- The counter keys of a reservation (recipient marketing zset, portfolio tier zsets, care window) are
-- read from the reservation itself (fields km, ktu, ktr, kw, written by decide.lua / load): the caller
-- only knows the message id. They carry the same {hash tag} as KEYS[1], so they live in the same slot
-- on Redis Cluster.
-- KEYS[1]  R   the reservation hash (fields: to, m, t, at, fep, km, ktu, ktr, kw)
-- ARGV[1]  message_id
-- ARGV[2]  "1" = rollback of a reservation decide() refused after the script took it: also undo the
--          free-entry-point mark it set; "0" = an ordinary release (the mark stays, as at Meta)
-- Returns  1 released, 0 nothing held

local r = redis.call('HMGET', KEYS[1], 'to', 'm', 't', 'at', 'fep', 'km', 'ktu', 'ktr', 'kw')
if not r[4] then return 0 end
local id, to = ARGV[1], r[1]
if r[2] == '1' then redis.call('ZREM', r[6], id) end
if r[3] == '1' then
  redis.call('ZREM', r[8], id)
  -- The recipient stays in the portfolio count until 24 h after its latest remaining tier send.
  local latest = redis.call('ZREVRANGE', r[8], 0, 0, 'WITHSCORES')
  if latest[2] then redis.call('ZADD', r[7], latest[2], to) else redis.call('ZREM', r[7], to) end
end
if ARGV[2] == '1' and r[5] == '1' and redis.call('HGET', r[9], 'fep') == r[4] then redis.call('HDEL', r[9], 'fep') end
redis.call('DEL', KEYS[1])
return 1
