-- wrk script: the mixed read/write load of bench/mixed.py, with a machine token holding
-- read:timesheets and create:timesheets. Of every ten requests WRITES_PER_10 (default 2)
-- create an entry, each for a new person (so no hour cap is reached); the others list
-- entries with filters, in turn: one seeded person's January, a project's submitted
-- entries, three ISO weeks, and one seeded person's entries; 20 to a page.
--
-- Env: BENCH_LUA_DIR (this folder), ACCESS_TOKEN, RUN_TAG (user_id prefix of the
-- creates, unique per run), SEED_PREFIX and SEED_USERS (the seeded people are
-- SEED_PREFIX0 .. SEED_PREFIX<SEED_USERS-1>), PROJECTS (comma-separated), WRITES_PER_10,
-- ACK_FILE (done() writes there the user_id of every 201 answer, one per line).
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local acks = require "acks"

local token = assert(os.getenv("ACCESS_TOKEN"), "ACCESS_TOKEN is not set")
local run_tag = assert(os.getenv("RUN_TAG"), "RUN_TAG is not set")
local ack_file = assert(os.getenv("ACK_FILE"), "ACK_FILE is not set")
local seed_prefix = assert(os.getenv("SEED_PREFIX"), "SEED_PREFIX is not set")
local seed_users = tonumber((assert(os.getenv("SEED_USERS"), "SEED_USERS is not set")))
local writes_per_10 = tonumber(os.getenv("WRITES_PER_10") or "2")
local projects = {}
for name in string.gmatch(assert(os.getenv("PROJECTS"), "PROJECTS is not set"), "[^,]+") do
  projects[#projects + 1] = name
end

local JSON = acks.bearer(token)
local BODY = '{"date":"2025-01-06","project":"Mixed","hours":1,"user_id":"%s%d"}'
setup = acks.setup

function init(args)
  acks.init(args)
  prefix = string.format("%s-%d-", run_tag, thread_number)
  sent = 0
  issued = 0
  reads = 0
  writes = 0
end

local function list_query(n)
  local person = seed_prefix .. (n % seed_users)
  local kind = n % 4
  if kind == 0 then
    return "/timesheets?user_id=" .. person .. "&from=2025-01-01&to=2025-01-31&limit=20"
  elseif kind == 1 then
    local project = projects[(n % #projects) + 1]
    return "/timesheets?project=" .. project .. "&status=submitted&limit=20"
  elseif kind == 2 then
    return "/timesheets?week_from=2025-W02&week_to=2025-W04&limit=20"
  end
  return "/timesheets?user_id=" .. person .. "&limit=20"
end

function request()
  issued = issued + 1
  if issued % 10 < writes_per_10 then
    sent = sent + 1
    writes = writes + 1
    return wrk.format("POST", "/timesheets", JSON, string.format(BODY, prefix, sent))
  end
  reads = reads + 1
  return wrk.format("GET", list_query(issued + thread_number))
end

function response(status, headers, body)
  acks.response(status, headers, body, status == 201)
end

function done(summary, latency, requests)
  acks.done(summary, latency, requests, ack_file)
  local total_reads, total_writes = 0, 0
  for _, thread in ipairs(acks.threads()) do
    total_reads = total_reads + (thread:get("reads") or 0)
    total_writes = total_writes + (thread:get("writes") or 0)
  end
  io.write(string.format("MIX reads=%d writes=%d\n", total_reads, total_writes))
end
