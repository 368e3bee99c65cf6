-- autoassign: InboxLease.mark_pending / is_pending (the pending mark that coalesces triggers)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:pending   string: 'q' (queued: a job was enqueued and has
--                                          not started; '1' from older versions reads the
--                                          same) or a lease token (handed off to that
--                                          holder by InboxLease.hand_off)
-- KEYS[2]  <prefix>:{i:<inbox>}:lease     string: the holder's redis-py Lock token
-- ARGV[1]  the mark's TTL in milliseconds (used when ARGV[2] is '1')
-- ARGV[2]  '1': set a queued mark when the inbox is not marked (mark_pending);
--          '0': only check (is_pending; writes nothing)
--
-- The inbox is marked if the mark is queued, or handed off to the lease's current
-- holder. A mark handed to a holder that no longer holds the lease (released, or
-- expired because the holder died) does not coalesce.
-- Returns 0 if the inbox is marked (nothing written), 1 if it was not (and, with
-- ARGV[2] = '1', is now marked queued).
local mark = redis.call('GET', KEYS[1])
if mark then
  if mark == 'q' or mark == '1' then
    return 0
  end
  if mark == redis.call('GET', KEYS[2]) then
    return 0
  end
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], 'q', 'PX', ARGV[1])
end
return 1
