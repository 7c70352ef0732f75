-- Acknowledges messages held in KEYS[1]. ARGV in fours: the held message, its task's id
-- (or ''), the chain's next message (or '') and that task's id. Each task is no longer
-- queued (KEYS[3]); for each message still held, the next is pushed to `ready` (KEYS[2])
-- and marked queued: only the first acknowledgement of a message pushes its successor.
local acked = 0
for i = 1, #ARGV, 4 do
  local removed = redis.call('LREM', KEYS[1], -1, ARGV[i])
  if ARGV[i + 1] ~= '' then
    redis.call('ZREM', KEYS[3], ARGV[i + 1])
  end
  if removed > 0 and ARGV[i + 2] ~= '' then
    redis.call('LPUSH', KEYS[2], ARGV[i + 2])
    redis.call('ZADD', KEYS[3], now, ARGV[i + 3])
  end
  acked = acked + removed
end
return acked
