-- wrk script for scripts/load-replay: `GET <the URL's path>` with `Authorization: Bearer
-- <token>`, each request with the next token of the file given after `--` (one per line). The
-- tokens carry distinct `jti`s: a file must hold more tokens than one run sends, or the first
-- replayed token gets 401 and scripts/load-replay stops.
local tokens = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = "Bearer " .. line
    end
  end
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", wrk.path, { ["Authorization"] = tokens[i] })
end
