-- Shared wrk hooks: count non-2xx responses per thread and print one machine-readable
-- RESULT line in done(), which bench/common.py parses.
--
-- wrk's own errors.status counts only responses >= 400; the response() hook below counts
-- every status outside 200-299. Latencies from wrk are microseconds; RESULT prints ms.
local M = {}
local threads = {}

function M.setup(thread)
  table.insert(threads, thread)
end

function M.init(_args)
  non2xx = 0 -- a global of the thread's own Lua state, read back in done()
end

function M.response(status, _headers, _body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function M.done(summary, latency, _requests)
  local non2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f " ..
    "max_ms=%.3f non2xx=%d status_errors=%d connect_errors=%d read_errors=%d " ..
    "write_errors=%d timeouts=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    non2xx_total, e.status, e.connect, e.read, e.write, e.timeout))
end

return M
