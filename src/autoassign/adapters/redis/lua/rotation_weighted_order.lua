-- autoassign: WeightedRotation.weighted_order (read the queue, the tags and the clock)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:rr       list of agent id texts, front first
-- KEYS[2]  <prefix>:{i:<inbox>}:rrtags   hash: agent id text -> its tag (ticks)
-- KEYS[3]  <prefix>:{i:<inbox>}:rrclock  string: the inbox's clock (ticks)
-- ARGV     none (ARGV[1] is ignored)
--
-- Returns {clock ("0" before the first move), m = the list's length, the list's m agent
-- id texts..., then the tags hash as field, value, field, value...}. Read-only: the
-- caller reconciles with its members and fills missing tags (weights.fill_tags).
local out = {redis.call('GET', KEYS[3]) or '0'}
local items = redis.call('LRANGE', KEYS[1], 0, -1)
out[2] = #items
for i = 1, #items do
  out[#out + 1] = items[i]
end
local tags = redis.call('HGETALL', KEYS[2])
for i = 1, #tags do
  out[#out + 1] = tags[i]
end
return out
