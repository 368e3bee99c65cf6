-- autoassign: RedisPresence.heartbeat (host helper: the agent is connected now)
--
-- KEYS[1]  <prefix>:{a:<account>}:presence   sorted set, agent id text -> last heartbeat
-- KEYS[2]  <prefix>:{a:<account>}:online     sorted set, the online index (agents whose
--                                            status is online -> last heartbeat)
-- ARGV[1]  agent id text
-- ARGV[2]  the heartbeat time (epoch seconds, as text)
--
-- ZADD to the presence set; an agent in the online index gets the same score there.
-- Returns 0. Both keys are read (type-checked) before the first write.
redis.call('ZSCORE', KEYS[1], ARGV[1])
local indexed = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if indexed then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
end
return 0
