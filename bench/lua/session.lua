-- wrk script for `make bench`: signed-in requests, one session (and one connection) per thread.
--
--   wrk -t16 -c16 -d10s --latency -s bench/lua/session.lua http://127.0.0.1:PORT -- DATA.lua
--
-- DATA.lua (written by bench/http.py) returns
--   { method = "GET" | "POST", expect = 200 | 302,
--     sessions = { { cookie = "...", path = "/...", body = "...", version = N }, ... } }
-- Thread i uses sessions[i] (round robin when there are fewer sessions than threads).
--
-- POST (saving a visit): the body is the visit form as the browser sends it, plus
-- `version=N&notes=...`; the thread counts the version up after each save (302), as the form
-- would after a reload. A save answered with anything else (a conflict, a form error) is counted
-- as unexpected, and the thread re-reads the form once to pick up the current version.
--
-- done() prints one line, `BENCH_RESULT key=value ...`, with p50/p90/p95/p99 latency in µs.

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local data = dofile(args[1])
  local sessions = data.sessions
  session = sessions[((id - 1) % #sessions) + 1]
  method = data.method
  expect = data.expect
  version = session.version
  unexpected = 0
  saves = 0
  refetch = false
  wrk.headers["Cookie"] = session.cookie
  get_request = wrk.format("GET", session.path)
  -- wrk.format uses the headers given instead of wrk.headers, so the cookie goes in again.
  post_headers = {
    ["Cookie"] = session.cookie,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
end

function request()
  if method == "GET" or refetch then
    return get_request
  end
  saves = saves + 1
  local body = session.body .. "&version=" .. version .. "&notes=bench+save+" .. id .. "-" .. saves
  return wrk.format("POST", session.path, post_headers, body)
end

function response(status, headers, body)
  if refetch then
    refetch = false
    local current = body and string.match(body, 'name="version" value="(%d+)"')
    if current then
      version = tonumber(current)
    end
    return
  end
  if status ~= expect then
    unexpected = unexpected + 1
    if method == "POST" then
      refetch = true
    end
  elseif method == "POST" then
    version = version + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("unexpected") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p95_us=%d p99_us=%d "
      .. "mean_us=%.1f max_us=%d unexpected=%d connect_errors=%d read_errors=%d "
      .. "write_errors=%d status_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max, bad,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
