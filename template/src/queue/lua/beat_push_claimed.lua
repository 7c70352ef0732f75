-- Pushes message ARGV[1] of task ARGV[4] to `ready` (KEYS[1]), marks the task queued
-- (KEYS[3]) and beat's claim KEYS[2] fired for ARGV[2] ms: all or nothing, and only while
-- the claim is still this beat's (it reads ARGV[3]). 1 if pushed; 0 if the claim lapsed
-- (this beat stalled) and is now another beat's, or fired.
if redis.call('GET', KEYS[2]) ~= ARGV[3] then
  return 0
end
redis.call('SET', KEYS[2], 'fired', 'PX', tonumber(ARGV[2]))
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[4])
return 1
