-- For each run of another worker (ARGV in pairs: the worker, the run's attempt), 1 if it
-- lives, else 0: its worker holds a lease in `workers` (KEYS[1]) that has not ended, and
-- has not given the run up (KEYS[1 + i] names the run's attempt if it did: see
-- abandon.lua).
local alive = {}
for i = 1, #ARGV / 2 do
  local lease = redis.call('ZSCORE', KEYS[1], ARGV[2 * i - 1])
  local abandoned = redis.call('GET', KEYS[1 + i])
  if lease and tonumber(lease) > now and abandoned ~= ARGV[2 * i] then
    alive[i] = 1
  else
    alive[i] = 0
  end
end
return alive
