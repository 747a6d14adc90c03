-- Load for scripts/bench: wrk <url> -s wrk.lua -- <token or -> "<METHOD> <path> [<json body>]" ...
-- Requests cycle through the specs; "@KEY" in a body becomes a fresh random project key.
-- Prints one JSON line at the end: totals, socket errors, non-2xx answers, latency percentiles.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  specs = {}
  for i = 2, #args do
    local method, path, body = args[i]:match("^(%S+) (%S+) ?(.*)$")
    table.insert(specs, { method = method, path = path, body = body })
  end
  sent = 0
  non2xx = 0
  status5xx = 0
  -- Each thread its own sequence of keys.
  math.randomseed(os.time() * 1000 + #threads + math.floor(os.clock() * 1000000))
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

local function random_key()
  local key = { "K" }
  for _ = 1, 9 do
    local at = math.random(1, #alphabet)
    key[#key + 1] = alphabet:sub(at, at)
  end
  return table.concat(key)
end

function request()
  sent = sent + 1
  local spec = specs[(sent - 1) % #specs + 1]
  local headers = { ["Accept"] = "application/json" }
  if token ~= "-" then
    headers["Authorization"] = "Bearer " .. token
  end
  local body = nil
  if spec.body ~= "" then
    headers["Content-Type"] = "application/json"
    body = (spec.body:gsub("@KEY", random_key))
  end
  return wrk.format(spec.method, spec.path, headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  if status > 499 then
    status5xx = status5xx + 1
  end
end

function done(summary, latency, requests)
  local not_2xx, server_errors = 0, 0
  for _, thread in ipairs(threads) do
    not_2xx = not_2xx + (thread:get("non2xx") or 0)
    server_errors = server_errors + (thread:get("status5xx") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "timeouts": %d, "non2xx": %d, "status5xx": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
    errors.write, errors.timeout, not_2xx, server_errors,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end
