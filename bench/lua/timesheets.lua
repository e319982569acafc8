-- wrk script: authorized POST /timesheets, a different person in every request.
--
-- Each body names its own user_id ("<RUN_TAG>-<thread>-<n>"), so no per-person hour
-- cap (24 h a day, 168 h a week) is ever reached however long the run: every request
-- is a new, valid entry. The same script drives our API and the seed-style peer, so
-- both get identical load.
--
-- Env: BENCH_LUA_DIR (this folder), ACCESS_TOKEN (bearer token), RUN_TAG (user_id
-- prefix, unique per wrk run), ACK_FILE (optional: where done() writes, one per line,
-- the user_id of every 2xx answer that echoed one, for the durability check).
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local report = require "report"

local token = assert(os.getenv("ACCESS_TOKEN"), "ACCESS_TOKEN is not set")
local run_tag = assert(os.getenv("RUN_TAG"), "RUN_TAG is not set")
local ack_file = os.getenv("ACK_FILE")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"

local BODY = '{"date":"2025-01-06","project":"Timesheets API","hours":1,"user_id":"%s%d"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
  report.setup(thread)
end

function init(args)
  report.init(args)
  -- Globals of this thread's own Lua state; done() reads `acked` back.
  prefix = string.format("%s-%d-", run_tag, thread_number)
  sent = 0
  acked = {}
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, string.format(BODY, prefix, sent))
end

function response(status, headers, body)
  report.response(status, headers, body)
  if status >= 200 and status <= 299 then
    -- Our API answers `"user_id": "x"`, the peer echoes the body as `"user_id":"x"`.
    local user = string.match(body, '"user_id":%s*"([^"]+)"')
    if user then
      acked[#acked + 1] = user
    end
  end
end

function done(summary, latency, requests)
  report.done(summary, latency, requests)
  if ack_file then
    local out = assert(io.open(ack_file, "w"))
    local total = 0
    for _, thread in ipairs(threads) do
      local list = thread:get("acked") or {}
      for _, user in ipairs(list) do
        out:write(user, "\n")
      end
      total = total + #list
    end
    out:close()
    io.write(string.format("ACKED %d\n", total))
  end
end
