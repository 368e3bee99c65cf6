-- autoassign: RateLimitLedger.try_record (check and record in one atomic step)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:fair:<agent>   sorted set, member = conversation id text,
--                                               score = assignment time (epoch microseconds)
-- KEYS[2]  <prefix>:{i:<inbox>}:fairlast       sorted set, member = agent id text,
--                                               score = that agent's newest entry
-- ARGV[1]  conversation id text
-- ARGV[2]  now (epoch microseconds, integer text, from the caller's Clock)
-- ARGV[3]  cutoff = now - window - 2 * max_clock_skew (the ledger's clock-skew margin):
--          entries scored <= cutoff no longer count and are trimmed; every other entry
--          counts, including those scored after now (stamped by a faster clock)
-- ARGV[4]  limit (integer text); "0" = no limit
-- ARGV[5]  key TTL in milliseconds (garbage collection only; windows never rely on it)
-- ARGV[6]  agent id text
--
-- Returns {1} if recorded, {1, previous score} if recorded in place of the same
-- conversation's entry that was in the window (so a speculative record can be undone
-- exactly), {0} if the agent already has `limit` other entries in the window (nothing
-- recorded). On record, the index gets the agent's newest entry (read back from
-- KEYS[1], so replacing an entry with an older time is exact too).
-- Scores travel as strings and are never turned into Lua numbers (16-digit values would
-- lose precision in Lua's number-to-string conversion).
-- Both keys' types are checked before anything is written (a wrong-typed index would
-- otherwise fail the script halfway).
redis.call('ZCARD', KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
local limit = tonumber(ARGV[4])
if limit ~= 0 then
  local others = redis.call('ZCARD', KEYS[1])
  if previous then
    others = others - 1
  end
  if others >= limit then
    return {0}
  end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('ZADD', KEYS[2], newest[2], ARGV[6])
-- The index's TTL only grows: it must outlive every agent's key (whatever window each
-- record was made with).
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
if previous then
  return {1, previous}
end
return {1}
