-- autoassign: EventOutbox.due (the oldest records staged before a time; read-only)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:outbox       hash, field = "<conversation JSON>\0<micros,
--                                            20 digits>\0<event id>", value = record JSON
-- KEYS[2]  <prefix>:{i:<inbox>}:outboxdue    sorted set, member = the field,
--                                            score = occurred_at (epoch microseconds)
-- ARGV[1]  the exclusive upper score, as "(<micros>"
-- ARGV[2]  the most records to return
--
-- Returns the record JSONs of the due records, oldest first (a field missing from the
-- hash is skipped).
local fields = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, field in ipairs(fields) do
  local value = redis.call('HGET', KEYS[1], field)
  if value then
    out[#out + 1] = value
  end
end
return out
