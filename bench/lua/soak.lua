-- wrk script: the mixed API load of bench/soak.py, with a machine token holding every
-- scope. Of every ten requests: five create an entry (each for a new person, so no
-- hour cap is ever reached), three list entries, one lists the approvals waiting, and
-- one approves an entry this thread created (or creates one when none is waiting).
--
-- Env: BENCH_LUA_DIR (this folder), ACCESS_TOKEN, RUN_TAG (user_id prefix, unique per
-- run), ACK_FILE (done() writes there the user_id of every 201 answer, one per line).
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local acks = require "acks"

local token = assert(os.getenv("ACCESS_TOKEN"), "ACCESS_TOKEN is not set")
local run_tag = assert(os.getenv("RUN_TAG"), "RUN_TAG is not set")
local ack_file = assert(os.getenv("ACK_FILE"), "ACK_FILE is not set")

local JSON = acks.bearer(token)
local BODY = '{"date":"2025-01-06","project":"Soak","hours":1,"user_id":"%s%d"}'
setup = acks.setup

function init(args)
  acks.init(args)
  prefix = string.format("%s-%d-", run_tag, thread_number)
  sent = 0
  issued = 0
  waiting = {}
end

local function create()
  sent = sent + 1
  return wrk.format("POST", "/timesheets", JSON, string.format(BODY, prefix, sent))
end

function request()
  issued = issued + 1
  local slot = issued % 10
  if slot < 5 then
    return create()
  elseif slot < 8 then
    return wrk.format("GET", "/timesheets?limit=20")
  elseif slot < 9 then
    return wrk.format("GET", "/approvals?limit=20")
  end
  local id = table.remove(waiting)
  if id == nil then
    return create()
  end
  return wrk.format("PUT", "/approvals/" .. id, JSON, "")
end

function response(status, headers, body)
  acks.response(status, headers, body, status == 201)
  if status == 201 then
    local id = string.match(body, '"id":%s*"([0-9a-f]+)"')
    if id and #waiting < 1000 then
      waiting[#waiting + 1] = id
    end
  end
end

function done(summary, latency, requests)
  acks.done(summary, latency, requests, ack_file)
end
