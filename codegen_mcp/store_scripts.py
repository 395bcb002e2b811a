"""The Lua scripts of the task store: each changes a task and what depends on it atomically.

Every key a script touches comes in KEYS (spelled by `store.Keys`); the one family a script
cannot know in advance, the per-state index of the state a task leaves, is named from a key
head passed in ARGV.
"""

from __future__ import annotations

# KEYS: the task hash, the watch set, the outbox, the recently-settled set, the event stream,
# the task's webhook list, the tasks with webhooks pending.
# KEYS[8]: the settled index (retention's: by when each settled; left when a run re-opens).
# ARGV: state index head (`Keys.state("")`), task id, new state, allowed old states ("" = any),
# now (epoch), renew ("1": a new outcome even in the same state), events kept (the stream's
# approximate bound), then field/value pairs.
# Returns {applied, old state, outcome seq, webhook queued}. An applied transition that changed
# the state, the Codegen status or made a new outcome adds one event (see EVENT_FIELDS in
# store.py); one that changed the state or made a new outcome of a task with a notify_url
# whose notify_events select the new state also queues that event, with the task as it is
# now, for the task's webhook (notify.py).
TRANSITION = """
local old = redis.call('HGET', KEYS[1], 'state')
if not old then return {0, '', 0, 0} end
local head, id, new, allowed, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if allowed ~= '' and not string.find(',' .. allowed .. ',', ',' .. old .. ',', 1, true) then
  return {0, old, 0, 0}
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
  redis.call('ZADD', KEYS[8], now, id)
elseif not settled[new] then
  redis.call('ZREM', KEYS[8], id)
end
local api = redis.call('HGET', KEYS[1], 'api_status')
local event_id = false
if old ~= new or seq > 0 or api ~= api_before then
  local event = {'task_id', id, 'state', new, 'from', old, 'seq', seq, 'at', now}
  if api then table.insert(event, 'api_status'); table.insert(event, api) end
  local orch = redis.call('HGET', KEYS[1], 'orchestrator_run_id')
  if orch then table.insert(event, 'orchestrator_run_id'); table.insert(event, orch) end
  event_id = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', unpack(event))
end
local hook = 0
local wanted = redis.call('HMGET', KEYS[1], 'notify_url', 'notify_events')
if wanted[1] and event_id and (old ~= new or seq > 0) and (not wanted[2]
    or string.find(',' .. wanted[2] .. ',', ',' .. new .. ',', 1, true)) then
  local task, flat = {}, redis.call('HGETALL', KEYS[1])
  for i = 1, #flat, 2 do task[flat[i]] = flat[i + 1] end
  redis.call('RPUSH', KEYS[6], cjson.encode(
    {id = event_id, type = 'task.' .. new, previous = old, at = now, task = task}))
  redis.call('ZADD', KEYS[7], 'NX', now, id)
  hook = 1
end
return {1, old, seq, hook}
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

# KEYS: a task's webhook list, the tasks with webhooks pending, the task hash. ARGV: task id,
# the event id just delivered (or given up). Drops that event if it is still the list's head
# (a second run of the delivery may have dropped it already) with its attempts, and takes the
# task off the pending set once its list is empty. Returns the events left.
NOTIFY_POP = """
local head = redis.call('LINDEX', KEYS[1], 0)
if head and cjson.decode(head)['id'] == ARGV[2] then
  redis.call('LPOP', KEYS[1])
  redis.call('HDEL', KEYS[3], 'notify_attempts', 'notify_error')
end
local left = redis.call('LLEN', KEYS[1])
if left == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return left
"""

# A start (`new`, `resume`) in one step: admit it, record it, index it, add its event and hand
# it to the workers, so a task recorded is a task enqueued (and a refused one is neither).
# KEYS: the task hash, every task, the queued index, the event stream, the client's allowance
# (the `limits` moving-window list), the API budget's window list and its 429 cooldown, the
# broker's queue list, the orchestrators index, then the task's own indexes (repo, orchestrator).
# ARGV: task id, now (epoch), the queue bound, the client's allowance (count, window seconds),
# the budget's count, events kept, the Celery message, orchestrator id ("" = none), then the
# task's field/value pairs.
# Returns {"full", queued} | {"limited", oldest entry} | {"ok", queued ahead, cooldown ms,
# the budget's entries (newest first)}.
START = """
local id, now = ARGV[1], tonumber(ARGV[2])
local ahead = redis.call('ZCARD', KEYS[3])
if ahead >= tonumber(ARGV[3]) then return {'full', ahead} end
local count, window = tonumber(ARGV[4]), tonumber(ARGV[5])
local oldest = redis.call('LINDEX', KEYS[5], count - 1)
if oldest and tonumber(oldest) >= now - window then return {'limited', oldest} end
redis.call('LPUSH', KEYS[5], ARGV[2])
redis.call('LTRIM', KEYS[5], 0, count - 1)
redis.call('EXPIRE', KEYS[5], window)
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
for i = 2, 3 do redis.call('ZADD', KEYS[i], ARGV[2], id) end
for i = 10, #KEYS do redis.call('ZADD', KEYS[i], ARGV[2], id) end
local event = {'task_id', id, 'state', 'queued', 'seq', 0, 'at', ARGV[2]}
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[9], 'NX', ARGV[2], ARGV[9])
  table.insert(event, 'orchestrator_run_id'); table.insert(event, ARGV[9])
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', unpack(event))
redis.call('LPUSH', KEYS[8], ARGV[8])
local cooldown = redis.call('PTTL', KEYS[7])
return {'ok', ahead, cooldown, redis.call('LRANGE', KEYS[6], 0, tonumber(ARGV[6]) - 1)}
"""

# Retention (retention.py): remove settled tasks past the cutoff, with every trace, in one
# call per batch. KEYS: tasks, settled, runowner, recent, watch, outbox, missing, removed,
# orchestrators, looks, resumed, pending, notify pending, run-webhook tokens. ARGV: cutoff,
# now, tombstone seconds, tombstones kept, recheck seconds, then the key heads task, state,
# repo, orch, run, requeued, inbox, inflight, gone, launch lock, webhook list, webhook lock
# (ARGV[6..17]), then each task id with its run-webhook token digest ("" for none). A task
# whose outcome an orchestrator still waits for (delivery pending, or its finished-hook not
# run yet), or whose webhook events are not all sent, is looked at again `recheck` seconds
# later. Returns {removed, deferred}.
REMOVE = """
local cutoff, now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local kept, recheck = tonumber(ARGV[4]), tonumber(ARGV[5])
local H = {task = ARGV[6], state = ARGV[7], repo = ARGV[8], orch = ARGV[9], run = ARGV[10],
  requeued = ARGV[11], inbox = ARGV[12], inflight = ARGV[13], gone = ARGV[14], lock = ARGV[15],
  notify = ARGV[16], notify_lock = ARGV[17]}
local settled = {paused = true, completed = true, failed = true, cancelled = true}
local removed, deferred = 0, 0
for i = 18, #ARGV, 2 do
  local id, digest = ARGV[i], ARGV[i + 1]
  local score = redis.call('ZSCORE', KEYS[2], id)
  local at = score and tonumber(score) or math.huge
  local f = redis.call('HMGET', H.task .. id, 'state', 'repo', 'orchestrator_run_id',
                       'agent_run_id', 'outcome_seq', 'delivery_state')
  local state, repo, orch, run, delivery = f[1], f[2], f[3], f[4], f[6]
  local seq = tonumber(f[5] or '0')
  if at > cutoff then
    -- settled again (or left) since it was read: not due
  elseif not state or not settled[state] then
    redis.call('ZREM', KEYS[2], id)
  elseif delivery == 'pending' or redis.call('ZSCORE', KEYS[13], id)
      or (seq > 0 and redis.call('ZSCORE', KEYS[6], id .. ':' .. seq)) then
    redis.call('ZADD', KEYS[2], cutoff + recheck, id)
    deferred = deferred + 1
  else
    redis.call('DEL', H.task .. id, H.requeued .. id, H.lock .. id, H.notify .. id,
               H.notify_lock .. id)
    for _, key in ipairs({KEYS[1], KEYS[2], KEYS[4], KEYS[5], H.state .. state}) do
      redis.call('ZREM', key, id)
    end
    redis.call('HDEL', KEYS[7], id)
    if digest ~= '' and redis.call('HGET', KEYS[14], digest) == id then
      redis.call('HDEL', KEYS[14], digest)
    end
    if repo then redis.call('ZREM', H.repo .. string.lower(repo), id) end
    for s = 1, seq do
      redis.call('ZREM', KEYS[6], id .. ':' .. s)
      redis.call('DEL', H.requeued .. id .. ':' .. s)
    end
    if run then
      redis.call('ZREM', H.run .. run, id)
      if redis.call('HGET', KEYS[3], run) == id then
        local newest = redis.call('ZREVRANGE', H.run .. run, 0, 0)
        if newest[1] then redis.call('HSET', KEYS[3], run, newest[1])
        else redis.call('HDEL', KEYS[3], run) end
      end
      if redis.call('GET', H.inflight .. run) == id then redis.call('DEL', H.inflight .. run) end
    end
    if orch then
      redis.call('ZREM', H.orch .. orch, id)
      for s = 1, seq do redis.call('ZREM', H.inbox .. orch, id .. ':' .. s) end
      redis.call('HSET', H.gone .. orch, id, cjson.encode({state = state, removed_at = now}))
      redis.call('EXPIRE', H.gone .. orch, ttl)
      if redis.call('EXISTS', H.orch .. orch, H.inbox .. orch, H.inflight .. orch) == 0 then
        redis.call('ZREM', KEYS[9], orch)
        redis.call('ZREM', KEYS[12], orch)
        redis.call('HDEL', KEYS[10], orch)
        redis.call('HDEL', KEYS[11], orch)
      end
    end
    redis.call('ZADD', KEYS[8], now, id)
    removed = removed + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - ttl)
redis.call('ZREMRANGEBYRANK', KEYS[8], 0, -kept - 1)
return {removed, deferred}
"""
