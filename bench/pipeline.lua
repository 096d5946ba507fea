-- wrk script: HTTP/1.1 pipelining. Usage: wrk ... -s bench/pipeline.lua URL -- DEPTH
-- Sends DEPTH requests for the URL's path in one write; wrk counts each response.
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil)
  end
  req = table.concat(r)
end

request = function()
  return req
end
