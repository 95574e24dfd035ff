-- upsertTemplate-3: store one template record and keep the WABA's language set and approved-name
-- counts in step with it, one atomic read-then-write. Called by src/gate/redis.ts (upsertTemplate,
-- and load() for each template).
-- KEYS[1]  G   namespace hash; field ARGV[6] ("t:<waba>:<name>:<lang>") = "<status>|<category>|<JSON>"
-- KEYS[2]  TL  languages of that name on the WABA, set
-- KEYS[3]  TA  approved names on the WABA, hash: name -> number of APPROVED languages
-- ARGV[1]  record JSON
-- ARGV[2]  status
-- ARGV[3]  category (settled by the caller)
-- ARGV[4]  language
-- ARGV[5]  name
-- ARGV[6]  the template's field in G
-- Returns  1

local old = redis.call('HGET', KEYS[1], ARGV[6])
local was = old and string.match(old, '^([^|]*)|')
redis.call('HSET', KEYS[1], ARGV[6], ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[1])
redis.call('SADD', KEYS[2], ARGV[4])
local now = ARGV[2] == 'APPROVED'
if was == 'APPROVED' and not now then
  if redis.call('HINCRBY', KEYS[3], ARGV[5], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[5]) end
elseif was ~= 'APPROVED' and now then
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
end
return 1
