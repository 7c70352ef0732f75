-- Prepended to the scripts that need the time: `now`, Redis's clock in milliseconds,
-- so that the clocks of the machines running workers do not matter.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
