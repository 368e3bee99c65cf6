-- autoassign: RedisPresence.set_status (host helper: set a status, get the previous one)
--
-- KEYS[1]  <prefix>:{a:<account>}:status     hash, agent id text -> status
-- ARGV[1]  agent id text
-- ARGV[2]  status
--
-- Returns a flat array: {} if the agent had no status, else {previous status}.
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if previous then
  return {previous}
end
return {}
