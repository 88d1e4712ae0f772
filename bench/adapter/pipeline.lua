-- pipeline.lua - bench/pipeline.lua with a path: each write carries DEPTH requests for PATH.
--
-- Usage: wrk -s bench/adapter/pipeline.lua http://127.0.0.1:PORT/ -- [DEPTH] [PATH]   (16, "/")
-- As in bench/pipeline.lua, wrk counts every response for req/s; latency is not meaningful.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../report.lua")

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
