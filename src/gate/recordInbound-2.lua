-- wagate gate: the state feeders that read before they write (src/gate/redis.ts), one atomic step each.
--
-- op "inbound": a customer message on a sender (care window, referral, free entry point)
--   KEYS[1] W   care window (sender, recipient), hash: li last inbound, ra referral at, fep fep opened at
--   KEYS[2] C   customer hash: field li, last inbound from the customer on any sender (ms)
--   ARGV[2] at (ms)   ARGV[3] referral at or ""   ARGV[4] fep opened at or ""
--   ARGV[5] free-entry-point window ms (72 h)   ARGV[6] window key time-to-live ms
-- op "template": upsert one template record
--   KEYS[1] G   namespace hash; field ARGV[7] ("t:<waba>:<name>:<lang>") = "<status>|<category>|<JSON>"
--   KEYS[2] TL  languages of that name on the WABA, set
--   KEYS[3] TA  approved names on the WABA, hash: name -> number of APPROVED languages
--   ARGV[2] record JSON   ARGV[3] status   ARGV[4] category (settled by the caller)   ARGV[5] language
--   ARGV[6] name   ARGV[7] the template's field in G
-- Returns 1

local op = ARGV[1]
if op == 'inbound' then
  local at = tonumber(ARGV[2])
  local ra, fep = tonumber(ARGV[3]), tonumber(ARGV[4])
  local w = redis.call('HMGET', KEYS[1], 'li', 'ra', 'fep')
  if not w[1] then
    redis.call('HSET', KEYS[1], 'li', ARGV[2])
    if ra then redis.call('HSET', KEYS[1], 'ra', ARGV[3]) end
  else
    -- An older inbound recorded late never shortens the window.
    if at > tonumber(w[1]) then redis.call('HSET', KEYS[1], 'li', ARGV[2]) end
    local oldRa = tonumber(w[2])
    if ra and (not oldRa or ra > oldRa) then
      redis.call('HSET', KEYS[1], 'ra', ARGV[3])
      -- A new ad click starts a new free-entry-point opportunity once the previous one ended.
      if w[3] and at >= tonumber(w[3]) + tonumber(ARGV[5]) then redis.call('HDEL', KEYS[1], 'fep') end
    end
  end
  if fep then redis.call('HSET', KEYS[1], 'fep', ARGV[4]) end
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  local any = tonumber(redis.call('HGET', KEYS[2], 'li'))
  if not any or any < at then redis.call('HSET', KEYS[2], 'li', ARGV[2]) end
  return 1
end
if op == 'template' then
  local old = redis.call('HGET', KEYS[1], ARGV[7])
  local was = old and string.match(old, '^([^|]*)|')
  redis.call('HSET', KEYS[1], ARGV[7], ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[5])
  local now = ARGV[3] == 'APPROVED'
  if was == 'APPROVED' and not now then
    if redis.call('HINCRBY', KEYS[3], ARGV[6], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[6]) end
  elseif was ~= 'APPROVED' and now then
    redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
  end
  return 1
end
return redis.error_reply('feed.lua: unknown op ' .. tostring(op))
