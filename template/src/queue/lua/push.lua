-- Pushes messages ARGV[2], ARGV[4], ... to `ready` (KEYS[1]) and marks their tasks
-- ARGV[1], ARGV[3], ... queued in KEYS[2]: both or neither, so that a task missing from
-- KEYS[2] is one whose push never reached Redis.
for i = 1, #ARGV, 2 do
  redis.call('LPUSH', KEYS[1], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], now, ARGV[i])
end
return #ARGV / 2
