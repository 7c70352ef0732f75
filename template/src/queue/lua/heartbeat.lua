-- Extends worker ARGV[1]'s lease in `workers` (KEYS[1]) to now + ARGV[2] ms.
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
