-- wrk script: the mixed API load of bench/soak.py, with a machine token holding every
-- scope. Of every ten requests: five create an entry (each for a new person, so no
-- hour cap is ever reached), three list entries, one lists the approvals waiting, and
-- one approves an entry this thread created (or creates one when none is waiting).
--
-- Env: BENCH_LUA_DIR (this folder), ACCESS_TOKEN, RUN_TAG (user_id prefix, unique per
-- run), ACK_FILE (done() writes there the user_id of every 201 answer, one per line).
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local report = require "report"

local token = assert(os.getenv("ACCESS_TOKEN"), "ACCESS_TOKEN is not set")
local run_tag = assert(os.getenv("RUN_TAG"), "RUN_TAG is not set")
local ack_file = assert(os.getenv("ACK_FILE"), "ACK_FILE is not set")

wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"

local BODY = '{"date":"2025-01-06","project":"Soak","hours":1,"user_id":"%s%d"}'
-- wrk.format uses the headers it is given instead of wrk.headers: repeat the token here.
local JSON = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
  ["Accept"] = "application/json",
}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
  report.setup(thread)
end

function init(args)
  report.init(args)
  prefix = string.format("%s-%d-", run_tag, thread_number)
  sent = 0
  issued = 0
  acked = {}
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
  report.response(status, headers, body)
  if status == 201 then
    local user = string.match(body, '"user_id":%s*"([^"]+)"')
    local id = string.match(body, '"id":%s*"([0-9a-f]+)"')
    if user then
      acked[#acked + 1] = user
    end
    if id and #waiting < 1000 then
      waiting[#waiting + 1] = id
    end
  end
end

function done(summary, latency, requests)
  report.done(summary, latency, requests)
  local out = assert(io.open(ack_file, "w"))
  for _, thread in ipairs(threads) do
    for _, user in ipairs(thread:get("acked") or {}) do
      out:write(user, "\n")
    end
  end
  out:close()
end
