-- autoassign: InboxLease.hand_off (leave a request to the pass holding the lease)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:pending   string: the pending mark (see lease_pending.lua)
-- KEYS[2]  <prefix>:{i:<inbox>}:lease     string: the holder's redis-py Lock token
-- ARGV[1]  the mark's TTL in milliseconds
--
-- If the lease is held, sets the mark to the holder's token (replacing any mark).
-- Returns {0, 0, 0} if nobody holds the lease (nothing written), else
-- {1, the lease's PTTL in milliseconds, 1 if the mark was not already this holder's}.
local holder = redis.call('GET', KEYS[2])
if not holder then
  return {0, 0, 0}
end
local left = redis.call('PTTL', KEYS[2])
local first = 1
if redis.call('GET', KEYS[1]) == holder then
  first = 0
end
redis.call('SET', KEYS[1], holder, 'PX', ARGV[1])
return {1, left, first}
