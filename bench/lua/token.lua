-- wrk script: OAuth 2.0 client_credentials token request (RFC 6749 §4.4) with
-- client_secret_basic. Env: BENCH_LUA_DIR (this folder), BASIC (base64 of
-- client_id:client_secret), TOKEN_BODY (the form body).
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local report = require "report"

wrk.method = "POST"
wrk.body = assert(os.getenv("TOKEN_BODY"), "TOKEN_BODY is not set")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. assert(os.getenv("BASIC"), "BASIC is not set")
wrk.headers["Accept"] = "application/json"

setup = report.setup
init = report.init
response = report.response
done = report.done
