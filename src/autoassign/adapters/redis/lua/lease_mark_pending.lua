-- autoassign: InboxLease.mark_pending (the pending mark that coalesces triggers)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:pending   string: 'q' (queued: a job was enqueued and has
--                                          not started; '1' from older versions reads the
--                                          same) or a lease token (handed off to that
--                                          holder by InboxLease.hand_off)
-- KEYS[2]  <prefix>:{i:<inbox>}:lease     string: the holder's redis-py Lock token
-- ARGV[1]  the mark's TTL in milliseconds
--
-- The inbox is marked if the mark is queued, or handed off to the lease's current
-- holder. A mark handed to a holder that no longer holds the lease (released, or
-- expired because the holder died) does not coalesce. (is_pending reads the same two
-- keys with one MGET and applies the same rule, without writing.)
-- Returns 0 if the inbox is marked (nothing written), else sets a queued mark and
-- returns 1.
local mark = redis.call('GET', KEYS[1])
if mark then
  if mark == 'q' or mark == '1' then
    return 0
  end
  if mark == redis.call('GET', KEYS[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], 'q', 'PX', ARGV[1])
return 1
