-- autoassign: Presence.statuses (one consistent read of an account's presence)
--
-- KEYS[1]  <prefix>:{a:<account>}:status     hash, agent id text -> status
-- KEYS[2]  <prefix>:{a:<account>}:presence   sorted set, agent id text -> last heartbeat
--                                            (epoch seconds)
-- ARGV[1]  "1": only agents with a fresh heartbeat count; "0": the status hash alone
-- ARGV[2]  freshness cutoff (epoch seconds, inclusive), from the caller's Clock
-- ARGV[3..] agent id texts
--
-- Returns a flat array: position (1-based among ARGV[3..]), status, position, status, ...
-- for every agent that has a status (and, with ARGV[1] = "1", a fresh heartbeat).
-- Read-only.
local require_heartbeat = ARGV[1] == '1'
local cutoff = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local agent = ARGV[i]
  local fresh = true
  if require_heartbeat then
    local seen = redis.call('ZSCORE', KEYS[2], agent)
    fresh = seen and tonumber(seen) >= cutoff
  end
  if fresh then
    local status = redis.call('HGET', KEYS[1], agent)
    if status then
      out[#out + 1] = i - 2
      out[#out + 1] = status
    end
  end
end
return out
