-- rollbackReservation-1: undo a reservation checkAndReserve-6.lua just took for a message decide()
-- then refused on a rule the script does not evaluate (parameters, quiet hours, tags, policy): its
-- slots AND the free-entry-point mark it set. Called by src/gate/redis.ts. Idempotent: a reservation
-- already gone is a no-op. The counter keys are rebuilt from the reservation
-- (includes/removeReservation.lua).
-- KEYS[1]  R   the reservation, string "<cat>|<m>|<t>|<at>|<fep>|<business>|<to>|<sender>"
-- ARGV[1]  message_id
-- ARGV[2]  the namespace's key base ("<prefix>:gate:{<prefix>}")
-- Returns  1 rolled back, 0 nothing held

--- @include "includes/removeReservation"

return removeReservation(KEYS[1], ARGV[1], ARGV[2], true, 'rollbackReservation-1.lua')
