-- acquireTokens-2: take one token from the sender bucket AND the (sender, recipient) pair bucket, or
-- from neither, one atomic step (Pacer.tryAcquire). Mirrors takeBoth() in src/pacing/buckets.ts line
-- for line (bucket arithmetic: includes/tokenBuckets.lua); the pacing contract suite runs both.
-- Time comes from Redis (TIME), never from the caller: instances with skewed clocks share one rate.
--
-- KEYS[1]  sender bucket  (hash {t = tokens, ts = last refill ms, b = blocked until ms})
-- KEYS[2]  pair bucket    (same fields; the recipient is hashed in the key name)
--          Both keys carry the same {hash tag} so they live in one slot (Redis Cluster).
-- ARGV[1]  sender rate, tokens per ms (mps / 1000)
-- ARGV[2]  sender capacity, tokens
-- ARGV[3]  pair rate, tokens per ms (1 / PAIR_INTERVAL_MS)
-- ARGV[4]  pair capacity, tokens (PAIR_BURST)
-- Returns  {1, 0, ""} granted, or {0, wait_ms, "sender"|"recipient"|"penalty"}

--- @include "includes/tokenBuckets"

local s_rate = tonumber(ARGV[1])
local s_cap = tonumber(ARGV[2])
local p_rate = tonumber(ARGV[3])
local p_cap = tonumber(ARGV[4])

local s = load(KEYS[1], s_cap)
local p = load(KEYS[2], p_cap)
refill(s, s_rate, s_cap)
refill(p, p_rate, p_cap)
local s_tok, s_pen = waits(s, s_rate)
local p_tok, p_pen = waits(p, p_rate)
local pen = math.max(s_pen, p_pen)
local wait = math.max(pen, s_tok, p_tok)
if wait <= 0 then
  s.t = s.t - 1
  p.t = p.t - 1
  save(KEYS[1], s, s_rate, s_cap)
  save(KEYS[2], p, p_rate, p_cap)
  return { 1, 0, '' }
end
local by = 'sender'
if pen >= wait then by = 'penalty' elseif p_tok >= s_tok then by = 'recipient' end
-- Nothing was taken, so nothing is written: a denied call costs no write.
return { 0, math.max(1, math.ceil(wait)), by }
