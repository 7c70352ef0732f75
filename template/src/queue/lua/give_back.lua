-- Puts message ARGV[1] held in KEYS[1] back at the front of `ready` (KEYS[2]), if it is
-- still held.
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return removed
