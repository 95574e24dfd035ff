-- checkAndReserve-6: decide and, when the stateful rules pass, take the slots — one atomic step.
-- src/gate/redis.ts calls it with EVALSHA (the script itself on NOSCRIPT) for GateState.checkAndReserve;
-- the dry run without the reservation is checkGate-5.lua. Both read the state with
-- includes/readGateState.lua.
--
-- The full rules live in TypeScript (src/domain/decide.ts). This script returns the snapshot decide()
-- needs and takes the slots itself when the STATEFUL rules pass: sender active,
-- template known and APPROVED, no opt-out (unless a free-form reply in a window reopened after it),
-- care window for free-form, per-user marketing cap, portfolio tier budget. Counting and taking the
-- slot in one script is what makes two instances unable to both take the last slot. If decide() then
-- denies on a stateless rule (parameters, quiet hours, tags, policy), the caller rolls the new
-- reservation back with rollbackReservation-1.lua. Meta's account restrictions (G field r:<sender>) are
-- one of those: read here, judged by decide() (src/domain/restrictions.ts), rolled back when they deny.
--
-- Time: the caller's `now` (ARGV[1]), not Redis TIME: decide() evaluates quiet hours and windows at
-- that same instant, and the reservation is stamped with it. Instances' clocks (NTP) differ by
-- milliseconds; a 24 h rolling window moved by that much changes nothing. (Pacing, where a few ms
-- matter, uses TIME: src/pacing/acquireTokens-2.lua.)
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
--             (the last three encoded as in key names: releaseReservation-1.lua rebuilds Z, TU and W
--             from them)
-- ARGV[1] now, epoch ms (the caller's clock)          ARGV[2] message_id
-- ARGV[3] kind: "free_form" | "template" | "direct_send" (a free-form utility message sent without a
--         template: business-initiated like a template, category utility)   ARGV[4] per-user marketing cap per 24 h
-- ARGV[5] portfolio limit; "" = unlimited             ARGV[6] G field of the sender status
-- ARGV[7] G field of the template ("" = none)
-- ARGV[8] Z member prefix of this portfolio's tier slots ("t:<business>:")
-- ARGV[9] "<business>|<to>|<sender>" (the tail of R)
-- ARGV[10] 24 h in ms                                 ARGV[11] time-to-live of R and Z, ms
-- Returns { "unloaded" } when the L marker is absent (the caller fails closed and reloads), else
--   { sender_json|false, template|false, customer_flat, li|false, ra|false, fep|false, m_count,
--     m_oldest|false, t_used, t_counted 0/1, t_oldest|false, reserved 0 none / 1 new / 2 held, R|false }

--- @include "includes/readGateState"

local now, id, kind = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local day = tonumber(ARGV[10])
local cutoff = now - day

local out, state = readGateState(now, id, ARGV[5], ARGV[6], ARGV[7], ARGV[8], day)
if not out then return { 'unloaded' } end
local sjson, tpl, cust, win = state.sjson, state.tpl, state.cust, state.win
local mCount, mineCounted, tUsed, limit, stale, mm, tm = state.mCount, state.mineCounted, state.tUsed, state.limit, state.stale, state.mm, state.tm

-- The stateful rules, in decide()'s terms; any of them failing means no slot is taken.
if sjson and cjson.decode(sjson).state ~= 'active' then return out end
local cat = kind == 'direct_send' and 'utility' or 'service'
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
local takesT = (kind == 'template' or kind == 'direct_send') and not windowOpen
if takesM and mCount >= ARGV[4] + 0 then return out end
if takesT and not mineCounted and limit and tUsed >= limit then return out end

-- Record: the reservation, its slots, and the pruned rolling counters.
-- A reply within 24 h of a click-to-WhatsApp referral opens the 72 h free entry point (cost only).
local ra = tonumber(win[2])
local fep = ra and not win[3] and now < ra + day and li and now < li + day
local m, t = takesM and '1' or '0', takesT and '1' or '0'
local r = cat .. '|' .. m .. '|' .. t .. '|' .. ARGV[1] .. '|' .. (fep and '1' or '0') .. '|' .. ARGV[9]
-- Held before (a retried submit): keep the first reservation, count nothing twice. One command both
-- reads it and, when there is none, writes ours.
local held = redis.call('SET', KEYS[6], r, 'PX', ARGV[11], 'NX', 'GET')
if held then
  local at = tonumber(string.match(held, '^[^|]*|[^|]*|[^|]*|([^|]*)'))
  if at and at > cutoff then
    out[12], out[13] = 2, held
    return out
  end
  redis.call('SET', KEYS[6], r, 'PX', ARGV[11]) -- older than 24 h: it no longer counts, replace it
end
if fep then redis.call('HSET', KEYS[3], 'fep', ARGV[1]) end
if takesM or takesT then
  if stale then redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cutoff) end
  if takesM and takesT then redis.call('ZADD', KEYS[4], now, mm, now, tm)
  elseif takesM then redis.call('ZADD', KEYS[4], now, mm)
  else redis.call('ZADD', KEYS[4], now, tm) end
  redis.call('PEXPIRE', KEYS[4], ARGV[11])
end
if takesT then
  -- One key per portfolio, no expiry: about one tier write in eight (by the id's last byte) prunes
  -- it. Members older than 24 h left meanwhile change no count (every read is by score).
  if string.byte(id, -1) % 8 == 0 then redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', cutoff) end
  redis.call('ZADD', KEYS[5], 'GT', now, ARGV[9]:match('^[^|]*|([^|]*)'))
end
out[12], out[13] = 1, r
return out
