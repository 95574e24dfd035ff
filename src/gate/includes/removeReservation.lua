--[[
  Gives back one reservation (releaseReservation-1.lua and rollbackReservation-1.lua include it).
  Idempotent: a reservation already gone is a no-op.

  The counter keys of a reservation (the recipient's slot zset Z, the portfolio tier zset TU, the care
  window W) are rebuilt from the reservation itself (business, recipient and sender, stored encoded as
  in key names by checkAndReserve-6.lua / load) and the namespace's key base: the caller only knows
  the message id. They carry the same {hash tag} as the reservation key, so they live in the same slot
  on Redis Cluster.
  Input:
    key      R, the reservation, string "<cat>|<m>|<t>|<at>|<fep>|<business>|<to>|<sender>"
    id       message_id
    base     the namespace's key base ("<prefix>:gate:{<prefix>}")
    undoFep  true: also undo the free-entry-point mark the reservation set (a rollback)
    script   the including script's name, for the error reply
  Output:
    1 released, 0 nothing held
]]
local function removeReservation(key, id, base, undoFep, script)
  local r = redis.call('GET', key)
  if not r then return 0 end
  local _, m, t, at, fep, biz, to, sender = string.match(r, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if not at then return redis.error_reply(script .. ': unreadable reservation at ' .. key) end
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
  if undoFep and fep == '1' then
    local w = base .. ':W:' .. sender .. ':' .. to
    if redis.call('HGET', w, 'fep') == at then redis.call('HDEL', w, 'fep') end
  end
  redis.call('DEL', key)
  return 1
end
