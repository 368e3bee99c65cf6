-- autoassign: EventOutbox.confirm and EventOutbox.discard (remove records)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:outbox       hash, field = "<conversation JSON>\0<micros,
--                                            20 digits>\0<event id>", value = record JSON
-- KEYS[2]  <prefix>:{i:<inbox>}:outboxdue    sorted set, member = the field
-- KEYS[3]  <prefix>:{i:<inbox>}:outboxconv   sorted set, member = the field, score 0
-- ARGV     "exact" then fields (discard: exactly those records), or
--          "upto" then pairs of lexical bounds: "[<conversation JSON>\0" and
--          "(<conversation JSON>\0<micros>\1" (confirm: each record and every record of
--          its conversation at or before it)
--
-- Returns how many records were removed.
local key = KEYS[3]
local fields = {}
if ARGV[1] == 'exact' then
  for i = 2, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
else
  for i = 2, #ARGV, 2 do
    local found = redis.call('ZRANGEBYLEX', key, ARGV[i], ARGV[i + 1])
    for _, field in ipairs(found) do
      fields[#fields + 1] = field
    end
  end
end
local removed = 0
for _, field in ipairs(fields) do
  removed = removed + redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[2], field)
  redis.call('ZREM', key, field)
end
return removed
