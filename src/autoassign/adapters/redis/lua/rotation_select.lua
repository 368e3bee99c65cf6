-- autoassign: RotationStore.select (reconcile, pick, rotate in one atomic step)
--
-- KEYS[1]        <prefix>:{i:<inbox>}:rr   list of agent id texts, front (head) first
-- ARGV[1]        n = number of members
-- ARGV[2..n+1]   member id texts, in member order
-- ARGV[n+2..]    eligible agent id texts
--
-- Reconciles the queue with the members (non-members and duplicates leave, survivors
-- keep their order, new members join at the back in member order), picks the first
-- eligible agent in queue order and moves it to the back.
-- Returns the picked agent's 1-based position among the members (ARGV[2..n+1]), or 0
-- when no member is eligible (the reconciled queue is still stored).
local key = KEYS[1]
local n = tonumber(ARGV[1])
local member_pos = {}
for i = 2, n + 1 do
  if member_pos[ARGV[i]] == nil then
    member_pos[ARGV[i]] = i - 1
  end
end
local eligible = {}
for i = n + 2, #ARGV do
  eligible[ARGV[i]] = true
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
for i = 2, n + 1 do
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
  -- The queue holds no duplicates, so LREM with count 1 removes exactly this agent.
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
redis.call('DEL', key)
local step = 1000
for first = 1, #out, step do
  local last = math.min(first + step - 1, #out)
  redis.call('RPUSH', key, unpack(out, first, last))
end
if picked == nil then
  return 0
end
return member_pos[picked]
