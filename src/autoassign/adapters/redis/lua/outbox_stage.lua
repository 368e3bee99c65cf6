-- autoassign: EventOutbox.stage (store one record)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:outbox       hash, field = "<conversation JSON>\0<micros,
--                                            20 digits>\0<event id>", value = record JSON
-- KEYS[2]  <prefix>:{i:<inbox>}:outboxdue    sorted set, member = the field,
--                                            score = occurred_at (epoch microseconds)
-- KEYS[3]  <prefix>:{i:<inbox>}:outboxconv   sorted set, member = the field, score 0
--                                            (in lexical order: by conversation, then time)
-- ARGV[1]  the field
-- ARGV[2]  the record JSON
-- ARGV[3]  the score
--
-- Returns 1. The keys' types are checked (by reads) before anything is written.
redis.call('HLEN', KEYS[1])
redis.call('ZCARD', KEYS[2])
local key = KEYS[3]
redis.call('ZCARD', key)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', key, 0, ARGV[1])
return 1
