-- Puts message ARGV[1] held in KEYS[1] back, due in ARGV[2] ms in `delayed` (KEYS[2]), and
-- notes in KEYS[3], for ARGV[4] ms, that its task's run ARGV[3] ended without its state
-- written (the database was away): its worker lives on, yet any worker may take the task
-- over. Both or neither.
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('SET', KEYS[3], ARGV[3], 'PX', tonumber(ARGV[4]))
end
return removed
