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
local acks = require "acks"

local token = assert(os.getenv("ACCESS_TOKEN"), "ACCESS_TOKEN is not set")
local run_tag = assert(os.getenv("RUN_TAG"), "RUN_TAG is not set")
local ack_file = os.getenv("ACK_FILE")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"

local BODY = '{"date":"2025-01-06","project":"Timesheets API","hours":1,"user_id":"%s%d"}'

setup = acks.setup

function init(args)
  acks.init(args)
  prefix = string.format("%s-%d-", run_tag, thread_number)
  sent = 0
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, string.format(BODY, prefix, sent))
end

function response(status, headers, body)
  acks.response(status, headers, body, status >= 200 and status <= 299)
end

function done(summary, latency, requests)
  if ack_file then
    io.write(string.format("ACKED %d\n", acks.done(summary, latency, requests, ack_file)))
  else
    require("report").done(summary, latency, requests)
  end
end
