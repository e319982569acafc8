-- Shared wrk hooks for scripts that create entries: on top of report.lua's counts, each
-- thread gets a `thread_number` and remembers the user_id of every create answered with
-- a status that `acknowledged(status)` accepts; done() writes them to ACK_FILE, one per
-- line, for the durability check, and returns how many there were.
local report = require "report"
local M = {}
local threads = {}

function M.setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
  report.setup(thread)
end

function M.init(args)
  report.init(args)
  acked = {} -- a global of the thread's own Lua state, read back in done()
end

-- Remember the user_id the body echoes when `ok`; our API answers `"user_id": "x"`, the
-- seed-style peer echoes the request body as `"user_id":"x"`.
function M.response(status, headers, body, ok)
  report.response(status, headers, body)
  if ok then
    local user = string.match(body, '"user_id":%s*"([^"]+)"')
    if user then
      acked[#acked + 1] = user
    end
  end
end

function M.done(summary, latency, requests, ack_file)
  report.done(summary, latency, requests)
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
  return total
end

-- Sets the bearer token on wrk.headers (for GETs) and returns the headers of a JSON
-- request: wrk.format uses the headers it is given instead of wrk.headers.
function M.bearer(token)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Accept"] = "application/json"
  return {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Accept"] = "application/json",
  }
end

function M.threads()
  return threads
end

return M
