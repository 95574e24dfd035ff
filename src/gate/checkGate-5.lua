-- checkGate-5: one gate decision's state, read without reserving (GateState.check: the dry run of
-- /v1/compliance/check and `wagate check`, and the worker's dispatch-time re-check). Read only; one
-- script so the snapshot is consistent. A reservation this message already holds is not counted
-- against it (a queued message re-checked before sending does not deny itself on its own cap).
-- src/gate/redis.ts calls it with EVALSHA (the script itself on NOSCRIPT); decide() then judges the
-- snapshot. checkAndReserve-6.lua reads the same state (includes/readGateState.lua) and reserves.
--
-- Time: the caller's `now` (ARGV[1]); see checkAndReserve-6.lua for why.
-- All keys share one {hash tag} (the gate namespace): one slot on Redis Cluster.
-- KEYS[1] G   namespace hash (L loaded marker, s:<sender> status, t:<waba>:<name>:<lang> template)
-- KEYS[2] C   customer hash
-- KEYS[3] W   care window (sender, recipient) hash
-- KEYS[4] Z   the recipient's slots, zset
-- KEYS[5] TU  portfolio tier count, zset
--             (each layout as in checkAndReserve-6.lua)
-- ARGV[1] now, epoch ms (the caller's clock)          ARGV[2] message_id
-- ARGV[3] portfolio limit; "" = unlimited             ARGV[4] G field of the sender status
-- ARGV[5] G field of the template ("" = none)
-- ARGV[6] Z member prefix of this portfolio's tier slots ("t:<business>:")
-- ARGV[7] 24 h in ms
-- Returns { "unloaded" } when the L marker is absent (the caller fails closed and reloads), else
--   { sender_json|false, template|false, customer_flat, li|false, ra|false, fep|false, m_count,
--     m_oldest|false, t_used, t_counted 0/1, t_oldest|false, 0, false } (checkAndReserve-6's reply,
--     nothing reserved)

--- @include "includes/readGateState"

local out = readGateState(tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]))
if not out then return { 'unloaded' } end
return out
