-- autoassign: RateLimitLedger.discard (remove one entry and keep the index exact)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:fair:<agent>   sorted set, member = conversation id text,
--                                               score = assignment time (epoch microseconds)
-- KEYS[2]  <prefix>:{i:<inbox>}:fairlast       sorted set, member = agent id text,
--                                               score = that agent's newest entry
-- ARGV[1]  conversation id text
-- ARGV[2]  agent id text
-- ARGV[3]  optional: a score (text, as try-record returned it) to put the entry back at
--          instead of removing it (undoing a speculative record that replaced it)
--
-- Then sets the agent's index entry to its newest remaining entry, or removes the agent
-- from the index when none remain. The index entry is only updated, never created
-- (ZADD XX): discard knows no window to give a new index key a TTL, and an agent that is
-- not in the index has entries from before the index existed.
-- Returns 1 if the entry was there, else 0 (nothing changed).
-- Both keys' types are checked (by reads) before anything is written.
redis.call('ZCARD', KEYS[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if ARGV[3] then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] then
  redis.call('ZADD', KEYS[2], 'XX', newest[2], ARGV[2])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 1
