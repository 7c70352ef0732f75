-- Takes up to ARGV[1] messages from `ready` (KEYS[1]) into a worker's `processing` list
-- (KEYS[2]).
local taken = {}
for _ = 1, tonumber(ARGV[1]) do
  local message = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not message then break end
  taken[#taken + 1] = message
end
return taken
