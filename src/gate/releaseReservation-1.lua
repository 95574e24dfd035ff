-- releaseReservation-1: give back one reservation (GateState.release: the message was dropped before
-- Meta accepted it). Its free-entry-point mark stays, as at Meta. Called by src/gate/redis.ts.
-- Idempotent: a reservation already gone is a no-op. The counter keys are rebuilt from the
-- reservation (includes/removeReservation.lua).
-- KEYS[1]  R   the reservation, string "<cat>|<m>|<t>|<at>|<fep>|<business>|<to>|<sender>"
-- ARGV[1]  message_id
-- ARGV[2]  the namespace's key base ("<prefix>:gate:{<prefix>}")
-- Returns  1 released, 0 nothing held

--- @include "includes/removeReservation"

return removeReservation(KEYS[1], ARGV[1], ARGV[2], false, 'releaseReservation-1.lua')
