-- penalizeBucket-1: Meta said we are over its limit (130429 / 131056): empty one bucket and block it
-- for ARGV[3] ms, one atomic step (Pacer.penalize). Mirrors block() in src/pacing/buckets.ts (bucket
-- arithmetic: includes/tokenBuckets.lua). Time comes from Redis (TIME), never from the caller.
--
-- KEYS[1]  the bucket: the sender's, or one (sender, recipient) pair's
--          (hash {t = tokens, ts = last refill ms, b = blocked until ms})
-- ARGV[1]  its rate, tokens per ms (used for the key's expiry after the block)
-- ARGV[2]  its capacity, tokens
-- ARGV[3]  penalty ms
-- Returns  1

--- @include "includes/tokenBuckets"

local rate, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local bk = load(KEYS[1], cap)
bk.t = 0
bk.ts = now
bk.b = math.max(bk.b, now + tonumber(ARGV[3]))
save(KEYS[1], bk, rate, cap)
return 1
