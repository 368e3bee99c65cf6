-- autoassign: RotationStore.select and RotationStore.advance (one atomic step each)
--
-- KEYS[1]        <prefix>:{i:<inbox>}:rr   list of agent id texts, front (head) first
-- ARGV[1]        mode: "select" or "advance"
-- ARGV[2]        n = number of members
-- ARGV[3..n+2]   member id texts, in member order
-- ARGV[n+3..]    select: the eligible agent id texts
--                advance: the agent id texts to move to the back, in order
--
-- Both modes first reconcile the queue with the members (non-members and duplicates
-- leave, survivors keep their order, new members join at the back in member order).
-- select: picks the first eligible agent in queue order and moves it to the back.
--   Returns the picked agent's 1-based position among the members, or 0 when no member
--   is eligible (the reconciled queue is still stored).
-- advance: moves each listed member to the back, in the order listed. Returns 0.
local key = KEYS[1]
local mode = ARGV[1]
local n = tonumber(ARGV[2])
local first_rest = n + 3
local member_pos = {}
for i = 3, n + 2 do
  if member_pos[ARGV[i]] == nil then
    member_pos[ARGV[i]] = i - 2
  end
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
for i = 3, n + 2 do
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
    return 0
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
  return 0
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
  return 0
end
if unchanged then
  local agent = out[picked]
  redis.call('LREM', key, 1, agent)
  redis.call('RPUSH', key, agent)
  return member_pos[agent]
end

if picked ~= nil then
  local agent = table.remove(out, picked)
  out[#out + 1] = agent
  picked = agent
end
store(out)
if picked == nil then
  return 0
end
return member_pos[picked]
