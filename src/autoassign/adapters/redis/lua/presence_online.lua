-- autoassign: RedisPresence.online (which agents are online, from the online index)
--
-- KEYS[1]  <prefix>:{a:<account>}:online     sorted set: the agents whose status is
--                                            online -> last heartbeat (epoch seconds,
--                                            0 before the first)
-- ARGV[1]  "1": only agents with a fresh heartbeat count; "0": the index alone
-- ARGV[2]  freshness cutoff (epoch seconds, inclusive), from the caller's Clock
-- ARGV[3]  "some": ARGV[4..] are the agent id texts asked about;
--          "all": every online agent of the account
--
-- Returns, for "some": the 1-based positions (among ARGV[4..]) of the agents that are
-- online; for "all": the id texts of every online agent (fresh, with ARGV[1] = "1"),
-- in heartbeat order. Read-only.
local require_heartbeat = ARGV[1] == '1'
if ARGV[3] == 'all' then
  if require_heartbeat then
    return redis.call('ZRANGE', KEYS[1], ARGV[2], '+inf', 'BYSCORE')
  end
  return redis.call('ZRANGE', KEYS[1], 0, -1)
end
local cutoff = tonumber(ARGV[2])
local out = {}
for i = 4, #ARGV do
  local seen = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if seen and (not require_heartbeat or tonumber(seen) >= cutoff) then
    out[#out + 1] = i - 3
  end
end
return out
