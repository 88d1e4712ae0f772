-- pipeline.lua - HTTP/1.1 pipelining for wrk: each write carries DEPTH requests.
--
-- Usage: wrk -s bench/pipeline.lua http://127.0.0.1:PORT/ -- [DEPTH] [PATH]   (default 16, "/")
-- wrk counts every response as a request for req/s, but records one latency
-- sample per batch: the time from writing the DEPTH requests to reading the
-- last of their responses. Pipelined p50/p99 are batch round trips.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format(nil, args[2] or "/")
  local parts = {}
  for i = 1, depth do parts[i] = one end
  batch = table.concat(parts)
end

function request()
  return batch
end
