-- Moves up to ARGV[1] due retries from `delayed` (KEYS[1]) to `ready` (KEYS[2]).
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, message in ipairs(due) do
  redis.call('ZREM', KEYS[1], message)
  redis.call('LPUSH', KEYS[2], message)
end
return #due
