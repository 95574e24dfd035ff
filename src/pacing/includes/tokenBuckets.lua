--[[
  The token-bucket arithmetic of src/pacing/buckets.ts, line for line (acquireTokens-2.lua and
  penalizeBucket-1.lua include it; the pacing contract suite runs them against memory.ts).
  Time comes from Redis (TIME), never from the caller: instances with skewed clocks share one rate.

  A bucket is a hash {t = tokens, ts = last refill ms, b = blocked until ms}; a missing key is a full
  bucket (the key expires when the bucket would be full again).
  Defines:
    now                       Redis's clock, ms
    load(key, cap)            the bucket at key
    refill(bk, rate, cap)     buckets.ts refill(): tokens at `now`; a lowered capacity caps them
    save(key, bk, rate, cap)  write it back, with its expiry
    waits(bk, rate)           buckets.ts bucketWait(): ms until one token, ms of penalty left
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

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
