-- autoassign: BatchPendingLease.mark_pending_many on a standalone server (one call for
-- many inboxes; a Redis Cluster client sends one lease_mark_pending per inbox instead,
-- since the inboxes' keys hash to different slots)
--
-- KEYS[1], KEYS[3], ...  <prefix>:{i:<inbox>}:pending of each inbox, as KEYS[1] of
--                        lease_mark_pending ('q' when queued, or the holder's lease
--                        token when handed off)
-- KEYS[2], KEYS[4], ...  <prefix>:{i:<inbox>}:lease of the same inbox
-- ARGV[1]  the marks' TTL in milliseconds
--
-- For each inbox in order, lease_mark_pending's rule: marked if the mark is queued, or
-- handed off to the lease's current holder; otherwise a queued mark is set.
-- Returns one integer per inbox: 0 if it was marked (nothing written), 1 if the mark
-- was set.
local out = {}
for at = 1, #KEYS, 2 do
  local key = KEYS[at + 1]
  local holder = redis.call('GET', key)
  key = KEYS[at]
  local mark = redis.call('GET', key)
  local fresh = 1
  if mark and (mark == 'q' or mark == '1' or mark == holder) then
    fresh = 0
  end
  if fresh == 1 then
    redis.call('SET', key, 'q', 'PX', ARGV[1])
  end
  out[#out + 1] = fresh
end
return out
