"""The Lua scripts of the task store: each changes a task and what depends on it atomically.

Every key a script touches comes in KEYS (spelled by `store.Keys`); the one family a script
cannot know in advance, the per-state index of the state a task leaves, is named from a key
head passed in ARGV.
"""

from __future__ import annotations

# KEYS: the task hash, the watch set, the outbox, the recently-settled set, the event stream.
# ARGV: state index head (`Keys.state("")`), task id, new state, allowed old states ("" = any),
# now (epoch), renew ("1": a new outcome even in the same state), events kept (the stream's
# approximate bound), then field/value pairs.
# Returns {applied, old state, outcome seq}. An applied transition that changed the state, the
# Codegen status or made a new outcome adds one event (see EVENT_FIELDS in store.py).
TRANSITION = """
local old = redis.call('HGET', KEYS[1], 'state')
if not old then return {0, '', 0} end
local head, id, new, allowed, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if allowed ~= '' and not string.find(',' .. allowed .. ',', ',' .. old .. ',', 1, true) then
  return {0, old, 0}
end
local api_before = redis.call('HGET', KEYS[1], 'api_status')
for i = 8, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i])
  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], 'state', new, 'updated_at', ARGV[5])
local created = redis.call('HGET', KEYS[1], 'created_ts')
if old ~= new then
  redis.call('ZREM', head .. old, id)
  redis.call('ZADD', head .. new, created, id)
end
if new == 'running' then
  redis.call('ZADD', KEYS[2], 'NX', now, id)
else
  redis.call('ZREM', KEYS[2], id)
end
local seq = 0
local settled = {paused = true, completed = true, failed = true, cancelled = true}
if settled[new] and (old ~= new or ARGV[6] == '1') then
  seq = redis.call('HINCRBY', KEYS[1], 'outcome_seq', 1)
  redis.call('ZADD', KEYS[3], now, id .. ':' .. seq)
  redis.call('ZADD', KEYS[4], now, id)
end
local api = redis.call('HGET', KEYS[1], 'api_status')
if old ~= new or seq > 0 or api ~= api_before then
  local event = {'task_id', id, 'state', new, 'from', old, 'seq', seq, 'at', now}
  if api then table.insert(event, 'api_status'); table.insert(event, api) end
  local orch = redis.call('HGET', KEYS[1], 'orchestrator_run_id')
  if orch then table.insert(event, 'orchestrator_run_id'); table.insert(event, orch) end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', unpack(event))
end
return {1, old, seq}
"""

# KEYS: child hash, inbox, pending. ARGV: seq, settle time, member, orchestrator id.
# Returns 1 when outcome `seq` entered the inbox, 0 when it (or a newer one) already had.
ACCEPT = """
local have = tonumber(redis.call('HGET', KEYS[1], 'delivery_seq') or '0')
if have >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'delivery_seq', ARGV[1], 'delivery_state', 'pending')
redis.call('HDEL', KEYS[1], 'delivery_task_id', 'delivery_error', 'delivered_at')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[4])
return 1
"""

# KEYS: the delivered children's hashes. ARGV: the resume's task id, now, then each child's
# outcome seq. Marks each child delivered by this resume unless it already is (its delivery
# time never changes after) or a newer outcome of it waits for a delivery of its own.
DELIVERED = """
local marked = 0
for i, key in ipairs(KEYS) do
  local current = redis.call('HGET', key, 'delivery_seq') == ARGV[2 + i]
  if current and (redis.call('HGET', key, 'delivery_state') ~= 'delivered'
     or redis.call('HGET', key, 'delivery_task_id') ~= ARGV[1]) then
    redis.call('HSET', key, 'delivery_state', 'delivered', 'delivery_task_id', ARGV[1],
               'delivered_at', ARGV[2])
    marked = marked + 1
  end
end
return marked
"""
