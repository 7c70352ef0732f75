-- Replaces message ARGV[1] held in KEYS[1] by ARGV[2], due in ARGV[3] ms in `delayed`
-- (KEYS[2]).
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
end
return removed
