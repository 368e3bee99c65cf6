-- autoassign: RedisPresence.set_status (host helper: set a status, get the previous one)
-- and the presence index kept in step with it
--
-- KEYS[1]  <prefix>:{a:<account>}:status     hash, agent id text -> status
-- KEYS[2]  <prefix>:{a:<account>}:presence   sorted set, agent id text -> last heartbeat
-- KEYS[3]  <prefix>:{a:<account>}:online     sorted set, the online index: the agents
--                                            whose status is ARGV[3], scored by their
--                                            last heartbeat (0 before the first)
-- ARGV[1]  agent id text
-- ARGV[2]  status
-- ARGV[3]  the online status ("online")
--
-- Returns a flat array: {} if the agent had no status, else {previous status}.
-- Every key is read (type-checked) before the first write.
local previous = redis.call('HGET', KEYS[1], ARGV[1])
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZSCORE', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[2] == ARGV[3] then
  redis.call('ZADD', KEYS[3], seen or '0', ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
if previous then
  return {previous}
end
return {}
