-- wrk script for bench/web.py: each request is for the next (session, path) of the file given
-- after "--" (one page for many people, so their caches are as many as theirs), counts answers
-- other than 200 (every one must be the page) and prints one summary line that bench/web.py
-- parses. The other headers come from wrk's -H options.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  bad_status = 0
  visits = {}
  for line in io.lines(args[1]) do
    local session, path = line:match("^(%S+)%s+(%S+)$")
    if session then
      table.insert(visits, { "sessionid=" .. session, path })
    end
  end
  -- Threads start at different people.
  position = ((id or 1) - 1) * math.floor(#visits / 2)
end

function request()
  position = position % #visits + 1
  local visit = visits[position]
  wrk.headers["Cookie"] = visit[1]
  return wrk.format(nil, visit[2])
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    bad_status = status
  end
end

function done(summary, latency, requests)
  local total_bad, status = 0, 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    if thread:get("bad_status") ~= 0 then
      status = thread:get("bad_status")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d p50_us=%d p95_us=%d bad=%d bad_status=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    total_bad, status, e.connect + e.read + e.write + e.timeout))
end
