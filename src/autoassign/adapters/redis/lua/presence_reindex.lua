-- autoassign: RedisPresence.rebuild_online_index (the index rebuilt from the status hash)
--
-- KEYS[1]  <prefix>:{a:<account>}:status     hash, agent id text -> status
-- KEYS[2]  <prefix>:{a:<account>}:presence   sorted set, agent id text -> last heartbeat
-- KEYS[3]  <prefix>:{a:<account>}:online     sorted set, the online index
-- ARGV[1]  the online status ("online")
--
-- Replaces the index with every agent whose status is ARGV[1], scored by its last
-- heartbeat (0 before the first). Returns the number of agents indexed. Every key is
-- read (type-checked) before the first write.
local statuses = redis.call('HGETALL', KEYS[1])
redis.call('ZCARD', KEYS[2])
redis.call('ZCARD', KEYS[3])
local entries = {}
for i = 1, #statuses, 2 do
  if statuses[i + 1] == ARGV[1] then
    local seen = redis.call('ZSCORE', KEYS[2], statuses[i])
    entries[#entries + 1] = seen or '0'
    entries[#entries + 1] = statuses[i]
  end
end
redis.call('DEL', KEYS[3])
local step = 1000
for first = 1, #entries, step do
  local last = math.min(first + step - 1, #entries)
  redis.call('ZADD', KEYS[3], unpack(entries, first, last))
end
return #entries / 2
