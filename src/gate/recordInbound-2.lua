-- recordInbound-2: a customer message on a sender (care window, referral, free entry point), one
-- atomic read-then-write. Called by src/gate/redis.ts (recordInbound, and load() for each window).
-- KEYS[1]  W   care window (sender, recipient), hash: li last inbound, ra referral at, fep fep opened at
-- KEYS[2]  C   customer hash: field li, last inbound from the customer on any sender (ms)
-- ARGV[1]  at (ms)
-- ARGV[2]  referral at, or ""
-- ARGV[3]  fep opened at, or ""
-- ARGV[4]  free-entry-point window ms (72 h)
-- ARGV[5]  window key time-to-live ms
-- Returns  1

local at = tonumber(ARGV[1])
local ra, fep = tonumber(ARGV[2]), tonumber(ARGV[3])
local w = redis.call('HMGET', KEYS[1], 'li', 'ra', 'fep')
if not w[1] then
  redis.call('HSET', KEYS[1], 'li', ARGV[1])
  if ra then redis.call('HSET', KEYS[1], 'ra', ARGV[2]) end
else
  -- An older inbound recorded late never shortens the window.
  if at > tonumber(w[1]) then redis.call('HSET', KEYS[1], 'li', ARGV[1]) end
  local oldRa = tonumber(w[2])
  if ra and (not oldRa or ra > oldRa) then
    redis.call('HSET', KEYS[1], 'ra', ARGV[2])
    -- A new ad click starts a new free-entry-point opportunity once the previous one ended.
    if w[3] and at >= tonumber(w[3]) + tonumber(ARGV[4]) then redis.call('HDEL', KEYS[1], 'fep') end
  end
end
if fep then redis.call('HSET', KEYS[1], 'fep', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local any = tonumber(redis.call('HGET', KEYS[2], 'li'))
if not any or any < at then redis.call('HSET', KEYS[2], 'li', ARGV[1]) end
return 1
