-- wrk script for HTTP/1.1 pipelining: every write carries `depth` GET / requests
-- back to back; wrk parses the responses one by one, so Requests/sec still counts
-- requests. Usage: wrk -s bench/pipeline.lua URL [-- DEPTH]   (default depth 16)
local depth = 16
local batch

init = function(args)
  if args[1] then depth = tonumber(args[1]) end
  batch = string.rep(wrk.format("GET", "/"), depth)
end

request = function()
  return batch
end
