-- The workers of `workers` (KEYS[1]) whose lease has ended: presumed dead.
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
