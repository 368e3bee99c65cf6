-- autoassign: WeightedRotation.weighted_advance (one atomic step)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:rr         list of agent id texts, front first (the
--                                          queue rotation.lua keeps)
-- KEYS[2]  <prefix>:{i:<inbox>}:rrmembers  string: the digest of the membership the list
--                                          was last reconciled with
-- KEYS[3]  <prefix>:{i:<inbox>}:rrversion  string: the write counter (rotation.lua)
-- KEYS[4]  <prefix>:{i:<inbox>}:rrtags     hash: agent id text -> its tag (ticks)
-- KEYS[5]  <prefix>:{i:<inbox>}:rrclock    string: the inbox's clock (ticks)
-- ARGV[1]        the members' digest (computed by the caller)
-- ARGV[2]        ticks in one round (weights.ROTATION_ROUND)
-- ARGV[3]        n = number of members
-- ARGV[4..n+3]   member id texts, in member order
-- ARGV[n+4..]    the moves, three values each: agent id text, at, stride
--
-- Reconciles the queue with the members (non-members and duplicates leave, survivors
-- keep their order, new members join at the back in member order), gives the members
-- without a tag one (clock + round; or, when no member has one, clock + i * round // n
-- in queue order, i from 0), drops non-members' tags, then applies each move of a
-- member: tag = max(tag, at) + stride, clock = max(clock, at), the agent to the back of
-- the queue. Stores the queue, the tags, the clock and the digest, increments the
-- version and returns {the new version}.
local key = KEYS[1]
local digest = ARGV[1]
local round = tonumber(ARGV[2])
local n = tonumber(ARGV[3])

local is_member = {}
for i = 4, n + 3 do
  is_member[ARGV[i]] = true
end

local queue = redis.call('LRANGE', key, 0, -1)
local seen = {}
local out = {}
for _, agent in ipairs(queue) do
  if is_member[agent] and not seen[agent] then
    seen[agent] = true
    out[#out + 1] = agent
  end
end
for i = 4, n + 3 do
  local agent = ARGV[i]
  if not seen[agent] then
    seen[agent] = true
    out[#out + 1] = agent
  end
end

local clock = tonumber(redis.call('GET', KEYS[5]) or '0')
local stored = redis.call('HGETALL', KEYS[4])
local tags = {}
local known = false
for i = 1, #stored, 2 do
  if is_member[stored[i]] then
    tags[stored[i]] = tonumber(stored[i + 1])
    known = true
  end
end
for i, agent in ipairs(out) do
  if tags[agent] == nil then
    if known then
      tags[agent] = clock + round
    else
      tags[agent] = clock + math.floor((i - 1) * round / #out)
    end
  end
end

-- Positions: a move takes the agent out (its old slot is skipped) and appends it.
local slot = {}
for i, agent in ipairs(out) do
  slot[agent] = i
end
for i = n + 4, #ARGV, 3 do
  local agent = ARGV[i]
  if slot[agent] ~= nil then
    local at = tonumber(ARGV[i + 1])
    local tag = tags[agent]
    if at > tag then
      tag = at
    end
    tags[agent] = tag + tonumber(ARGV[i + 2])
    if at > clock then
      clock = at
    end
    out[#out + 1] = agent
    slot[agent] = #out
  end
end
local final = {}
for i, agent in ipairs(out) do
  if slot[agent] == i then
    final[#final + 1] = agent
  end
end

local step = 1000
redis.call('DEL', key)
for first = 1, #final, step do
  local last = math.min(first + step - 1, #final)
  redis.call('RPUSH', key, unpack(final, first, last))
end
redis.call('DEL', KEYS[4])
local pairs_out = {}
for _, agent in ipairs(final) do
  pairs_out[#pairs_out + 1] = agent
  pairs_out[#pairs_out + 1] = string.format('%d', tags[agent])
  if #pairs_out >= 2 * step then
    redis.call('HSET', KEYS[4], unpack(pairs_out))
    pairs_out = {}
  end
end
if #pairs_out > 0 then
  redis.call('HSET', KEYS[4], unpack(pairs_out))
end
redis.call('SET', KEYS[5], string.format('%d', clock))
redis.call('SET', KEYS[2], digest)
return {redis.call('INCR', KEYS[3])}
