-- autoassign: RotationStore.select and RotationStore.advance (one atomic step each)
--
-- KEYS[1]        <prefix>:{i:<inbox>}:rr         list of agent id texts, front first
-- KEYS[2]        <prefix>:{i:<inbox>}:rrmembers  string: the digest of the membership
--                                                the list was last reconciled with
-- KEYS[3]        <prefix>:{i:<inbox>}:rrversion  string: a counter, incremented by every
--                                                call that may write (readers cache by it)
-- ARGV[1]        mode: "select", "advance" or "moves"
-- ARGV[2]        the members' digest (computed by the caller)
-- select / advance:
--   ARGV[3]        n = number of members
--   ARGV[4..n+3]   member id texts, in member order
--   ARGV[n+4..]    select: the eligible agent id texts
--                  advance: the agent id texts to move to the back, in order
-- moves:
--   ARGV[3..]      the member id texts to move to the back, in order
--
-- select and advance first reconcile the queue with the members (non-members and
-- duplicates leave, survivors keep their order, new members join at the back in
-- member order) and store the digest.
-- select: picks the first eligible agent in queue order and moves it to the back.
--   Returns {the picked agent's 1-based position among the members, or 0 when no
--   member is eligible (the reconciled queue is still stored), the new version}.
-- advance: moves each listed member to the back, in the order listed. Returns
--   {0, the new version}.
-- moves: advance without the members: only when the stored digest is ARGV[2] (the
--   list is reconciled with these members already), moves each listed agent to the
--   back (LREM + RPUSH) and returns {0, the new version}; otherwise changes nothing and
--   returns {-1} (the caller sends the members: "advance").
local key = KEYS[1]
local mode = ARGV[1]
local digest = ARGV[2]
local stored_digest = redis.call('GET', KEYS[2])
redis.call('GET', KEYS[3])

if mode == 'moves' then
  if stored_digest ~= digest then
    return {-1}
  end
  redis.call('LLEN', key)
  -- The queue holds no duplicates, so LREM with count 1 removes exactly the agent.
  for i = 3, #ARGV do
    redis.call('LREM', key, 1, ARGV[i])
    redis.call('RPUSH', key, ARGV[i])
  end
  return {0, redis.call('INCR', KEYS[3])}
end

local n = tonumber(ARGV[3])
local first_rest = n + 4
local member_pos = {}
for i = 4, n + 3 do
  if member_pos[ARGV[i]] == nil then
    member_pos[ARGV[i]] = i - 3
  end
end

local function finish(result)
  if stored_digest ~= digest then
    redis.call('SET', KEYS[2], digest)
  end
  return {result, redis.call('INCR', KEYS[3])}
end

local queue = redis.call('LRANGE', key, 0, -1)
local seen = {}
local out = {}
for _, agent in ipairs(queue) do
  if member_pos[agent] ~= nil and not seen[agent] then
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

local unchanged = #out == #queue
if unchanged then
  for i = 1, #out do
    if out[i] ~= queue[i] then
      unchanged = false
      break
    end
  end
end

local function store(list)
  redis.call('DEL', key)
  local step = 1000
  for first = 1, #list, step do
    local last = math.min(first + step - 1, #list)
    redis.call('RPUSH', key, unpack(list, first, last))
  end
end

if mode == 'advance' then
  local moves = {}
  for i = first_rest, #ARGV do
    if member_pos[ARGV[i]] ~= nil then
      moves[#moves + 1] = ARGV[i]
    end
  end
  if unchanged and #moves <= 8 then
    -- The queue holds no duplicates, so LREM with count 1 removes exactly the agent.
    for _, agent in ipairs(moves) do
      redis.call('LREM', key, 1, agent)
      redis.call('RPUSH', key, agent)
    end
    return finish(0)
  end
  -- Many moves: renumber once (each agent's last move decides its place).
  local last_move = {}
  for index, agent in ipairs(moves) do
    last_move[agent] = index
  end
  local kept = {}
  for _, agent in ipairs(out) do
    if last_move[agent] == nil then
      kept[#kept + 1] = agent
    end
  end
  for index, agent in ipairs(moves) do
    if last_move[agent] == index then
      kept[#kept + 1] = agent
    end
  end
  store(kept)
  return finish(0)
end

local eligible = {}
for i = first_rest, #ARGV do
  eligible[ARGV[i]] = true
end
local picked = nil
for i = 1, #out do
  if eligible[out[i]] then
    picked = i
    break
  end
end

if unchanged and picked == nil then
  return finish(0)
end
if unchanged then
  local agent = out[picked]
  redis.call('LREM', key, 1, agent)
  redis.call('RPUSH', key, agent)
  return finish(member_pos[agent])
end

if picked ~= nil then
  local agent = table.remove(out, picked)
  out[#out + 1] = agent
  picked = agent
end
store(out)
if picked == nil then
  return finish(0)
end
return finish(member_pos[picked])
