-- autoassign: RotationStore.order (read the queue, or confirm a cached copy)
--
-- KEYS[1]  <prefix>:{i:<inbox>}:rr         list of agent id texts, front first
-- KEYS[2]  <prefix>:{i:<inbox>}:rrmembers  string: the digest of the membership the list
--                                          was last reconciled with
-- KEYS[3]  <prefix>:{i:<inbox>}:rrversion  string: the write counter (rotation.lua)
-- ARGV[1]  the caller's members digest
-- ARGV[2]  the version of the caller's cached copy ("" when it has none)
-- ARGV[3]  its length; ARGV[4] its first and ARGV[5] its last agent id text
--
-- Returns {version} when the cached copy is current: the digest is ARGV[1], the version
-- is ARGV[2], and the list has ARGV[3] agents from ARGV[4] to ARGV[5] (a writer that
-- does not count versions, such as an older one, moves agents to the back). Otherwise
-- {version ("0" before the first write), "1" if the digest is ARGV[1] else "0", the
-- list's agent id texts...}. Read-only.
local version = redis.call('GET', KEYS[3]) or '0'
local matches = redis.call('GET', KEYS[2]) == ARGV[1]
if matches and ARGV[2] ~= '' and version == ARGV[2] then
  local n = redis.call('LLEN', KEYS[1])
  if tostring(n) == ARGV[3] then
    if n == 0 then
      return {version}
    end
    local first = redis.call('LINDEX', KEYS[1], 0)
    local last = redis.call('LINDEX', KEYS[1], -1)
    if first == ARGV[4] and last == ARGV[5] then
      return {version}
    end
  end
end
local out = {version, matches and '1' or '0'}
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #items do
  out[#out + 1] = items[i]
end
return out
