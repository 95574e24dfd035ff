-- wagate pacing: per-sender and per-(sender, recipient) token buckets, one atomic step.
-- Mirrors src/pacing/buckets.ts line for line; the pacing contract suite runs both.
-- Time comes from Redis (TIME), never from the caller: instances with skewed clocks share one rate.
--
-- KEYS[1]  sender bucket  (hash {t = tokens, ts = last refill ms, b = blocked until ms})
-- KEYS[2]  pair bucket    (same fields; the recipient is hashed in the key name)
--          Both keys carry the same {hash tag} so they live in one slot (Redis Cluster).
-- ARGV[1]  op: "acquire" (take one token from both buckets or from neither)
--              "penalize" (empty the bucket named by ARGV[7] and block it for ARGV[6] ms)
-- ARGV[2]  sender rate, tokens per ms (mps / 1000)
-- ARGV[3]  sender capacity, tokens
-- ARGV[4]  pair rate, tokens per ms (1 / PAIR_INTERVAL_MS)
-- ARGV[5]  pair capacity, tokens (PAIR_BURST)
-- ARGV[6]  penalty ms (penalize only)
-- ARGV[7]  penalize target: "s" (KEYS[1]) or "p" (KEYS[2])
-- Returns  acquire:  {1, 0, ""} granted, or {0, wait_ms, "sender"|"recipient"|"penalty"}
--          penalize: {1, 0, ""}

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

local op = ARGV[1]
local s_rate = tonumber(ARGV[2])
local s_cap = tonumber(ARGV[3])
local p_rate = tonumber(ARGV[4])
local p_cap = tonumber(ARGV[5])

local function load(key, cap)
  local v = redis.call('HMGET', key, 't', 'ts', 'b')
  if not v[1] then return { t = cap, ts = now, b = 0 } end
  return { t = tonumber(v[1]), ts = tonumber(v[2]), b = tonumber(v[3]) }
end

local function refill(bk, rate, cap)
  if now > bk.ts then
    bk.t = math.min(cap, bk.t + (now - bk.ts) * rate)
    bk.ts = now
  end
  -- a lowered capacity (tier change) caps tokens at once
  if bk.t > cap then bk.t = cap end
end

-- Numbers go to HSET as numbers (Redis formats them with full precision), never via tostring.
-- The key expires when the bucket would be full again: a missing key means a full bucket.
local function save(key, bk, rate, cap)
  redis.call('HSET', key, 't', bk.t, 'ts', bk.ts, 'b', bk.b)
  local ttl = math.max(bk.b - now, 0) + (cap - math.min(bk.t, cap)) / rate + 1000
  redis.call('PEXPIRE', key, math.ceil(ttl))
end

local function waits(bk, rate)
  local pen = math.max(0, bk.b - now)
  local tok = 0
  if bk.t < 1 - 1e-9 then tok = (1 - bk.t) / rate end
  return tok, pen
end

if op == 'penalize' then
  local ms = tonumber(ARGV[6])
  local key, rate, cap = KEYS[1], s_rate, s_cap
  if ARGV[7] == 'p' then key, rate, cap = KEYS[2], p_rate, p_cap end
  local bk = load(key, cap)
  bk.t = 0
  bk.ts = now
  bk.b = math.max(bk.b, now + ms)
  save(key, bk, rate, cap)
  return { 1, 0, '' }
end

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
