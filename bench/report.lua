-- report.lua - makes wrk print its results as one JSON line, for bench/load.ts.
--
-- wrk's human output rounds (e.g. "1.23ms") and its --latency table only has
-- 50/75/90/99; the done() hook reads the histogram directly, in microseconds.
-- The line starts with "WRK_JSON " so it is easy to find among wrk's own output.
-- Other scripts (pipeline.lua) dofile() this one to get the same done().

local function percentile(latency, p)
  local ok, v = pcall(function() return latency:percentile(p) end)
  if ok then return v end
  return -1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"durationUs":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"mean":%.2f,"stdev":%.2f,"max":%d,' ..
    '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    percentile(latency, 50), percentile(latency, 75), percentile(latency, 90),
    percentile(latency, 99), percentile(latency, 99.9)))
end
