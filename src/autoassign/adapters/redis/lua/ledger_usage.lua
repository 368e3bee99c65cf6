-- autoassign: RateLimitLedger.usage (read-only; one call for all agents of an inbox)
--
-- KEYS[1], ..., KEYS[n]   <prefix>:{i:<inbox>}:fair:<agent>, one sorted set per agent
-- ARGV[1]     the window's start as an exclusive bound:
--             "(<now - window - 2 * max_clock_skew, in microseconds>"
--
-- For every key with entries inside the window, appends four values: the key's 1-based
-- position in KEYS, the count in the window, the oldest score in the window and the
-- newest score. Keys without entries in the window add nothing. Each key costs three
-- logarithmic reads (ZCOUNT and two single-entry ranges), whatever the set's size.
local start = ARGV[1]
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('ZCOUNT', key, start, '+inf')
  if count > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', key, start, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    out[#out + 1] = i
    out[#out + 1] = count
    out[#out + 1] = oldest[2]
    out[#out + 1] = newest[2]
  end
end
return out
