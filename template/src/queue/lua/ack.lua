-- Acknowledges messages ARGV[1], ARGV[3], ... held in KEYS[1] and, for each still held,
-- pushes the chain's next message ARGV[2], ARGV[4], ... (if not '') to `ready` (KEYS[2]).
-- Only the first acknowledgement of a message pushes its successor.
local acked = 0
for i = 1, #ARGV, 2 do
  local removed = redis.call('LREM', KEYS[1], -1, ARGV[i])
  if removed > 0 and ARGV[i + 1] ~= '' then
    redis.call('LPUSH', KEYS[2], ARGV[i + 1])
  end
  acked = acked + removed
end
return acked
