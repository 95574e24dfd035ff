-- wagate gate: read one decision's state, settle the racy part, and record the reservation — one
-- atomic step (src/gate/redis.ts calls it with EVALSHA, sending the script on NOSCRIPT).
--
-- The full rules live in TypeScript (src/domain/decide.ts). This script returns the snapshot decide()
-- needs and, in reserve mode, takes the slots itself when the STATEFUL rules pass: sender active,
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
-- Speed: every key touched costs a lookup in a large keyspace, so one decision touches six keys and
-- issues about a dozen commands: facts shared by the namespace live in one hash (G), a recipient's
-- slots in one zset (Z), a reservation in one string. The template languages and the approved names
-- (only needed to explain some denials) are read by the caller afterwards, outside this script.
--
-- All keys share one {hash tag} (the gate namespace): one slot on Redis Cluster.
-- KEYS[1] G   namespace hash: L "loaded" marker (written last by load(): absent = empty or
--             half-loaded state), s:<sender> SenderStatus JSON (absent = active),
--             t:<waba>:<name>:<lang> template "<status>|<category>|<record JSON>"
-- KEYS[2] C   customer hash: x known, cs:<cat> consent, ca:<cat> consent at, tags (JSON), tz, und, mla,
--             li last inbound from the customer on any sender
-- KEYS[3] W   care window (sender, recipient), hash: li last inbound, ra referral at, fep opened at
-- KEYS[4] Z   the recipient's slots, zset -> at: m:<message_id> marketing slot,
--             t:<business>:<message_id> tier slot of that portfolio
-- KEYS[5] TU  portfolio tier count, zset wa_id -> latest tier-slot reservation at
-- KEYS[6] R   this message's reservation, string "<cat>|<m>|<t>|<at>|<fep>|<business>|<to>|<sender>"
--             (the last three encoded as in key names: release.lua rebuilds Z, TU and W from them)
-- ARGV[1] "c" check (read only) or "r" reserve       ARGV[2] now, epoch ms (the caller's clock)
-- ARGV[3] message_id                                  ARGV[4] kind: "free_form" | "template"
-- ARGV[5] per-user marketing cap per 24 h             ARGV[6] portfolio limit; "" = unlimited
-- ARGV[7] G field of the sender status                ARGV[8] G field of the template ("" = none)
-- ARGV[9] Z member prefix of this portfolio's tier slots ("t:<business>:")
-- ARGV[10] "<business>|<to>|<sender>" (the tail of R)
-- ARGV[11] 24 h in ms                                 ARGV[12] time-to-live of R and Z, ms
-- Returns { "unloaded" } when the L marker is absent (the caller fails closed and reloads), else
--   { sender_json|false, template|false, customer_flat, li|false, ra|false, fep|false, m_count,
--     m_oldest|false, t_used, t_counted 0/1, t_oldest|false, reserved 0 none / 1 new / 2 held, R|false }

local now, id, kind = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local day = tonumber(ARGV[11])
local cutoff = now - day

local g = redis.call('HMGET', KEYS[1], 'L', ARGV[7], ARGV[8] ~= '' and ARGV[8] or 'L')
if not g[1] then return { 'unloaded' } end
local sjson = g[2]
local tpl = ARGV[8] ~= '' and g[3] or false
local cust = redis.call('HGETALL', KEYS[2])
local win = redis.call('HMGET', KEYS[3], 'li', 'ra', 'fep')

-- The recipient's slots of the last 24 h, not counting this message's own; also whether stale ones
-- are left to prune (so the write prunes only when needed).
local mm, tp = 'm:' .. id, ARGV[9]
local tm = tp .. id
local mCount, mOldest, tN, selfT, stale = 0, false, 0, false, false
local list = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
for i = 1, #list, 2 do
  local at = tonumber(list[i + 1])
  local m = list[i]
  if at <= cutoff then stale = true
  elseif m == mm or m == tm then
    if m == tm then selfT = true end
  elseif string.byte(m, 1) == 109 then -- 'm'
    mCount = mCount + 1
    if not mOldest then mOldest = at end
  elseif string.sub(m, 1, #tp) == tp then
    tN = tN + 1
  end
end

-- Tier: unique recipients of the portfolio whose latest tier send is younger than 24 h. A recipient
-- kept in that count only by this message's own slot (a re-check) is not counted against it.
local after = '(' .. cutoff
local limit = tonumber(ARGV[6])
local tUsed = redis.call('ZCOUNT', KEYS[5], after, '+inf')
local mineCounted = tN > 0
if selfT and not mineCounted then tUsed = tUsed - 1 end
local tOldest = false
if limit and tUsed >= limit then
  local first = redis.call('ZRANGEBYSCORE', KEYS[5], after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then tOldest = tonumber(first[2]) end
end

local out = { sjson, tpl, cust, win[1], win[2], win[3], mCount, mOldest, tUsed, mineCounted and 1 or 0, tOldest, 0, false }
if ARGV[1] ~= 'r' then return out end

-- The stateful rules, in decide()'s terms; any of them failing means no slot is taken.
if sjson and cjson.decode(sjson).state ~= 'active' then return out end
local cat = 'service'
if kind == 'template' then
  if not tpl then return out end
  local st, c = string.match(tpl, '^([^|]*)|([^|]*)|')
  if st ~= 'APPROVED' then return out end
  cat = c
end
local li = tonumber(win[1])
local windowOpen = li ~= nil and now >= li - 60000 and now < li + day
local cs, ca = 'cs:' .. cat, 'ca:' .. cat
for i = 1, #cust, 2 do
  if cust[i] == cs and cust[i + 1] == 'opted_out' then
    local at
    for j = 1, #cust, 2 do if cust[j] == ca then at = tonumber(cust[j + 1]) end end
    local reopened = kind == 'free_form' and windowOpen and at ~= nil and li > at
    if not reopened then return out end
  end
end
if kind == 'free_form' and not windowOpen then return out end
local takesM = cat == 'marketing' and not windowOpen
local takesT = kind == 'template' and not windowOpen
if takesM and mCount >= ARGV[5] + 0 then return out end
if takesT and not mineCounted and limit and tUsed >= limit then return out end

-- Record: the reservation, its slots, and the pruned rolling counters.
-- A reply within 24 h of a click-to-WhatsApp referral opens the 72 h free entry point (cost only).
local ra = tonumber(win[2])
local fep = ra and not win[3] and now < ra + day and li and now < li + day
local m, t = takesM and '1' or '0', takesT and '1' or '0'
local r = cat .. '|' .. m .. '|' .. t .. '|' .. ARGV[2] .. '|' .. (fep and '1' or '0') .. '|' .. ARGV[10]
-- Held before (a retried submit): keep the first reservation, count nothing twice. One command both
-- reads it and, when there is none, writes ours.
local held = redis.call('SET', KEYS[6], r, 'PX', ARGV[12], 'NX', 'GET')
if held then
  local at = tonumber(string.match(held, '^[^|]*|[^|]*|[^|]*|([^|]*)'))
  if at and at > cutoff then
    out[12], out[13] = 2, held
    return out
  end
  redis.call('SET', KEYS[6], r, 'PX', ARGV[12]) -- older than 24 h: it no longer counts, replace it
end
if fep then redis.call('HSET', KEYS[3], 'fep', ARGV[2]) end
if takesM or takesT then
  if stale then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff) end
  if takesM and takesT then redis.call('ZADD', KEYS[4], now, mm, now, tm)
  elseif takesM then redis.call('ZADD', KEYS[4], now, mm)
  else redis.call('ZADD', KEYS[4], now, tm) end
  redis.call('PEXPIRE', KEYS[4], ARGV[12])
end
if takesT then
  -- One key per portfolio, no expiry: about one tier write in eight (by the id's last byte) prunes
  -- it. Members older than 24 h left meanwhile change no count (every read is by score).
  if string.byte(id, -1) % 8 == 0 then redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', cutoff) end
  redis.call('ZADD', KEYS[5], 'GT', now, ARGV[10]:match('^[^|]*|([^|]*)'))
end
out[12], out[13] = 1, r
return out
