-- Gives the messages of workers back to `ready` (KEYS[2], to be taken first) and forgets
-- those workers in `workers` (KEYS[1]). The worker named ARGV[2 + i] holds its messages
-- in KEYS[2 + i] (every key is declared, as Redis Cluster requires).
--
-- ARGV[1] names a worker that is stopping, or is '': its messages go back now, and it
-- stays listed for ARGV[2] ms more, so that anything reaching its list late is recovered
-- too. Every other worker was found expired a moment ago; it is recovered only if its
-- lease has still ended (it may have renewed it since, or been recovered by another).
local moved = 0
for i = 3, #KEYS do
  local worker = ARGV[i]
  local stopping = worker == ARGV[1]
  local lease = redis.call('ZSCORE', KEYS[1], worker)
  if stopping or (lease and tonumber(lease) <= now) then
    while redis.call('LMOVE', KEYS[i], KEYS[2], 'LEFT', 'RIGHT') do
      moved = moved + 1
    end
    if stopping then
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), worker)
    else
      redis.call('ZREM', KEYS[1], worker)
    end
  end
end
return moved
