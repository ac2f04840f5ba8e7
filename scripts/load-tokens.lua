-- wrk script for scripts/load: `GET /` with `Authorization: Bearer <token>`, cycling through
-- the tokens of the file given after `--` (one per line), each wrk thread from its own offset.
local tokens = {}
local i = 0

function setup(thread)
  thread:set("offset", i)
  i = i + 1000
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = "Bearer " .. line
    end
  end
  i = offset or 0
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", "/", { ["Authorization"] = tokens[i] })
end
