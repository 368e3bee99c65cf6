-- autoassign: RateLimitLedger.try_record (check and record in one atomic step)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:fair:<agent>   sorted set, member = conversation id text,
--                                               score = assignment time (epoch microseconds)
-- ARGV[1]  conversation id text
-- ARGV[2]  now (epoch microseconds, integer text, from the caller's Clock)
-- ARGV[3]  cutoff = now - window: entries scored <= cutoff no longer count
-- ARGV[4]  limit (integer text); "0" = no limit
-- ARGV[5]  key TTL in milliseconds (garbage collection only; windows never rely on it)
--
-- Returns 1 if recorded, 0 if the agent already has `limit` other entries in the window.
-- Scores travel as strings and are never turned into Lua numbers (16-digit values would
-- lose precision in Lua's number-to-string conversion).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local limit = tonumber(ARGV[4])
if limit ~= 0 then
  local others = redis.call('ZCARD', KEYS[1])
  if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    others = others - 1
  end
  if others >= limit then
    return 0
  end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
