-- wagate gate: read one decision's state, settle the racy part, and record the reservation — one
-- atomic step (src/gate/redis.ts calls it; EVALSHA with a NOSCRIPT fallback through defineCommand).
--
-- The full rules live in TypeScript (src/domain/decide.ts). This script returns the snapshot decide()
-- needs and, in "reserve" mode, takes the slots itself when the STATEFUL rules pass: sender active,
-- template known and APPROVED, no opt-out (unless a free-form reply in a window reopened after it),
-- care window for free-form, per-user marketing cap, portfolio tier budget. Counting and taking the
-- slot in one script is what makes two instances unable to both take the last slot. If decide() then
-- denies on a stateless rule (parameters, quiet hours, tags, policy), the caller rolls the new
-- reservation back with release.lua.
--
-- Time: the caller's `now` (ARGV[2]), not Redis TIME: decide() evaluates quiet hours and windows at
-- that same instant, and the reservation is stamped with it. Instances' clocks (NTP) differ by
-- milliseconds; a 24 h rolling window moved by that much changes nothing. (Pacing, where a few ms
-- matter, uses TIME: src/pacing/pace.lua.)
--
-- All keys share one {hash tag} (the gate namespace): one slot on Redis Cluster.
-- KEYS[1]  S   sender status, string: SenderStatus JSON (absent = active)
-- KEYS[2]  C   customer, hash: cs:<cat> consent state, ca:<cat> consent at, tags (JSON), tz, und, mla
-- KEYS[3]  W   care window (sender, recipient), hash: li last inbound, ra referral at, fep fep opened at
-- KEYS[4]  LI  last inbound from the recipient on any sender, string ms
-- KEYS[5]  T   template (waba, name, language), hash: j record JSON, st status, cat settled category
-- KEYS[6]  TL  languages of that template name on the WABA, set
-- KEYS[7]  TA  APPROVED template names on the WABA, hash: name -> number of APPROVED languages
-- KEYS[8]  M   marketing-slot reservations of the recipient, zset message_id -> at
-- KEYS[9]  TU  portfolio tier count, zset wa_id -> latest tier-slot reservation at
-- KEYS[10] TR  tier-slot reservations of (portfolio, recipient), zset message_id -> at
-- KEYS[11] R   the reservation of this message, hash: s sender, to, cat, m, t, at, b business,
--              km/ktu/ktr/kw the names of KEYS[8]/[9]/[10]/[3] (release.lua needs them), fep
-- KEYS[12] L   "loaded" marker, written last by load(): absent = the state is empty or half-loaded
--              (Redis restarted without persistence, flushed, or a load is running)
-- ARGV[1]  "check" (read only) or "reserve"
-- ARGV[2]  now, epoch ms (the caller's clock)
-- ARGV[3]  message_id
-- ARGV[4]  kind: "free_form" | "template"
-- ARGV[5]  per-user marketing cap per 24 h
-- ARGV[6]  portfolio messaging limit (unique recipients / 24 h); "" = unlimited
-- ARGV[7]  recipient wa_id     ARGV[8] sender id     ARGV[9] business id
-- ARGV[10] 24 h in ms (rolling windows and the care window)
-- ARGV[11] key time-to-live for reservations and counters, ms
-- ARGV[12] "1" = also return the approved names (KEYS[7]); the caller asks again only for the denials
--          that suggest templates, so the common allowed decision does not carry the list
-- Returns  { "unloaded" } when KEYS[12] is absent: the caller fails closed (an empty state would
--          forget opt-outs) and reloads from the durable store. Otherwise
--          { sender_json|false, customer_flat, {li, ra, fep}, last_inbound_any|false, template_json|false,
--            languages, approved_names, m_count, m_oldest|false, t_used, t_counted 0/1, t_oldest|false,
--            reserved 0 none / 1 new / 2 held before, {cat, m, t, at} | false }

local mode, now, id, kind = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cap, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
local to, sender, biz = ARGV[7], ARGV[8], ARGV[9]
local day, ttl = tonumber(ARGV[10]), tonumber(ARGV[11])
local cutoff = now - day
local after = '(' .. cutoff

if redis.call('EXISTS', KEYS[12]) == 0 then return { 'unloaded' } end

local sjson = redis.call('GET', KEYS[1])
local cust = redis.call('HGETALL', KEYS[2])
local win = redis.call('HMGET', KEYS[3], 'li', 'ra', 'fep')
local lastAny = redis.call('GET', KEYS[4])
local tpl = redis.call('HMGET', KEYS[5], 'j', 'st', 'cat')
local langs = {}
if kind == 'template' and not tpl[1] then langs = redis.call('SMEMBERS', KEYS[6]) end
local approved = {}
if ARGV[12] == '1' then approved = redis.call('HKEYS', KEYS[7]) end

-- Slots of the last 24 h in a per-recipient zset (a handful of entries), not counting this message's
-- own; also says whether older ones are left to prune (so the write prunes only when needed).
local function others(key)
  local list = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local n, oldest, stale = 0, false, false
  for i = 1, #list, 2 do
    local at = tonumber(list[i + 1])
    if at <= cutoff then stale = true
    elseif list[i] ~= id then
      n = n + 1
      if not oldest then oldest = at end
    end
  end
  return n, oldest, stale
end
-- Per-user marketing cap.
local mCount, mOldest, mStale = others(KEYS[8])

-- Tier: unique recipients of the portfolio whose latest tier send is younger than 24 h.
local tUsed = redis.call('ZCOUNT', KEYS[9], after, '+inf')
local mineN, _, trStale = others(KEYS[10])
local mineCounted = mineN > 0
local mine = redis.call('ZSCORE', KEYS[9], to)
if mine and tonumber(mine) > cutoff and not mineCounted then tUsed = tUsed - 1 end
local tOldest = false
if limit and tUsed >= limit then
  local first = redis.call('ZRANGEBYSCORE', KEYS[9], after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then tOldest = tonumber(first[2]) end
end

local snapshot = { sjson, cust, win, lastAny, tpl[1] or false, langs, approved, mCount, mOldest, tUsed, mineCounted and 1 or 0, tOldest }
local function done(reserved, res)
  snapshot[13] = reserved
  snapshot[14] = res
  return snapshot
end
if mode ~= 'reserve' then return done(0, false) end

-- Held before (a retried submit): keep the first reservation, count nothing twice.
local held = redis.call('HMGET', KEYS[11], 'cat', 'm', 't', 'at')
if held[4] and tonumber(held[4]) > cutoff then return done(2, held) end

-- The stateful rules, in decide()'s terms; any of them failing means no slot is taken.
if sjson and cjson.decode(sjson).state ~= 'active' then return done(0, false) end
local cat = 'service'
if kind == 'template' then
  if not tpl[1] or tpl[2] ~= 'APPROVED' then return done(0, false) end
  cat = tpl[3]
end
local li = tonumber(win[1])
local windowOpen = li ~= nil and now >= li - 60000 and now < li + day
local custMap = {}
for i = 1, #cust, 2 do custMap[cust[i]] = cust[i + 1] end
if custMap['cs:' .. cat] == 'opted_out' then
  local at = tonumber(custMap['ca:' .. cat])
  local reopened = kind == 'free_form' and windowOpen and at ~= nil and li > at
  if not reopened then return done(0, false) end
end
if kind == 'free_form' and not windowOpen then return done(0, false) end
local takesM = cat == 'marketing' and not windowOpen
local takesT = kind == 'template' and not windowOpen
if takesM and mCount >= cap then return done(0, false) end
if takesT and not mineCounted and limit and tUsed >= limit then return done(0, false) end

-- Record: the reservation, its slots, and the pruned rolling counters.
local m, t = takesM and '1' or '0', takesT and '1' or '0'
redis.call('HSET', KEYS[11], 's', sender, 'to', to, 'cat', cat, 'm', m, 't', t, 'at', ARGV[2], 'b', biz,
  'km', KEYS[8], 'ktu', KEYS[9], 'ktr', KEYS[10], 'kw', KEYS[3])
redis.call('PEXPIRE', KEYS[11], ttl)
if takesM then
  if mStale then redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', cutoff) end
  redis.call('ZADD', KEYS[8], now, id)
  redis.call('PEXPIRE', KEYS[8], ttl)
end
if takesT then
  if trStale then redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', cutoff) end
  redis.call('ZADD', KEYS[10], now, id)
  redis.call('PEXPIRE', KEYS[10], ttl)
  redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', cutoff)
  -- One key per portfolio, pruned on every write: no expiry needed.
  redis.call('ZADD', KEYS[9], 'GT', now, to)
end
-- A reply within 24 h of a click-to-WhatsApp referral opens the 72 h free entry point (cost only).
local ra = tonumber(win[2])
if ra and not win[3] and now < ra + day and li and now < li + day then
  redis.call('HSET', KEYS[3], 'fep', ARGV[2])
  redis.call('HSET', KEYS[11], 'fep', '1')
end
return done(1, { cat, m, t, ARGV[2] })
