-- Pushes message ARGV[1] to `ready` (KEYS[1]) and marks beat's claim KEYS[2] fired for
-- ARGV[2] ms: both or neither.
redis.call('SET', KEYS[2], 'fired', 'PX', tonumber(ARGV[2]))
return redis.call('LPUSH', KEYS[1], ARGV[1])
