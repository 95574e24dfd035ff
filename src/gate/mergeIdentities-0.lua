-- mergeIdentities-0: phones learned for business-scoped user ids (GateState.mergeIdentities). The
-- marketing and tier slots a BSUID took before its phone was known move to the phone, so one person is
-- counted once against the per-user marketing cap and the portfolio's unique-recipient budget. One
-- atomic step for a webhook list's new links; called by src/gate/redis.ts.
--
-- No KEYS: like includes/removeReservation.lua, the keys are rebuilt from the namespace's key base and
-- the names given (all under the namespace's one {hash tag}, so one slot on Redis Cluster).
-- ARGV[1]  the namespace's key base ("<prefix>:gate:{<prefix>}")
-- ARGV[2]  time-to-live of the recipient's slot zset, ms
-- ARGV[3…] triples, each encoded as in key names: business portfolio, BSUID, phone
-- Returns  the number of slots moved
--
-- A slot moves only when its reservation (R) was taken by a sender of that portfolio for that BSUID: a
-- BSUID is scoped to its portfolio. The reservation is rewritten to name the phone (its time-to-live
-- kept), so a later release finds the slot where it now is.

local base, ttl = ARGV[1], ARGV[2]
-- encodeURIComponent, as the key names are built in TypeScript (message ids are usually plain).
local function enc(s)
  return (string.gsub(s, "[^%w%-_%.!~%*'%(%)]", function(c) return string.format('%%%02X', string.byte(c)) end))
end

local moved = 0
for i = 3, #ARGV - 2, 3 do
  local biz, from, to = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local zf, zt = base .. ':Z:' .. from, base .. ':Z:' .. to
  local tp = 't:' .. biz .. ':'
  local list = redis.call('ZRANGE', zf, 0, -1, 'WITHSCORES')
  local here = 0
  for j = 1, #list, 2 do
    local mem = list[j]
    local id
    if string.sub(mem, 1, 2) == 'm:' then id = string.sub(mem, 3)
    elseif string.sub(mem, 1, #tp) == tp then id = string.sub(mem, #tp + 1) end
    if id then
      local rk = base .. ':R:' .. enc(id)
      local r = redis.call('GET', rk)
      local head, rbiz, rto, sender
      if r then head, rbiz, rto, sender = string.match(r, '^(.*)|([^|]*)|([^|]*)|([^|]*)$') end
      if rbiz == biz and rto == from then
        redis.call('SET', rk, head .. '|' .. biz .. '|' .. to .. '|' .. sender, 'KEEPTTL')
        redis.call('ZREM', zf, mem)
        redis.call('ZADD', zt, list[j + 1], mem)
        here = here + 1
      end
    end
  end
  if here > 0 then redis.call('PEXPIRE', zt, ttl) end
  moved = moved + here
  -- The portfolio's unique-recipient count: the person stays counted from their latest tier send.
  local tu = base .. ':TU:' .. biz
  local s = redis.call('ZSCORE', tu, from)
  if s then
    redis.call('ZREM', tu, from)
    redis.call('ZADD', tu, 'GT', s, to)
  end
end
return moved
