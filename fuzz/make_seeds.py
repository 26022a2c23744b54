#!/usr/bin/env python3
"""Writes the byte-level seed corpora (fuzz/corpus/<target>/) from tests/fixtures and the
documented provisioning signature vectors. Run from the repository root: python3 fuzz/make_seeds.py ."""
import json, os, hmac, hashlib, base64, sys
root = sys.argv[1]
fx = os.path.join(root, "tests/fixtures")
out = os.path.join(root, "fuzz/corpus")
def put(target, name, data):
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), "wb").write(data)
def fixture(name):
    return json.load(open(os.path.join(fx, name)))
def compact(v): return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
def splice(v, path, raw):
    v = json.loads(json.dumps(v))
    cur = v
    for k in path[:-1]: cur = cur[k]
    cur[path[-1]] = "@@X@@"
    return compact(v).replace('"@@X@@"', raw)

# Status selectors: index in fuzz/src/lib.rs STATUSES = [200,201,400,401,404,429,500,502,503].
S = {200:0, 201:1, 400:2, 401:3, 404:4, 429:5, 500:6, 502:7, 503:8}
def status(code, body): return bytes([S[code]]) + (body.encode() if isinstance(body, str) else body)

# decode_token
tok = fixture("rest-token.json")
put("decode_token", "rest-token.json", open(os.path.join(fx, "rest-token.json"), "rb").read())
put("decode_token", "register-201-invalid_grant", status(201, compact(fixture("register-201.json"))))
put("decode_token", "401", status(401, '{"code":401,"msg":"unauthorized","timestamp":1652449735368}'))
put("decode_token", "502-html", status(502, "<html><head><title>502 Bad Gateway</title></head></html>"))
for i, raw in enumerate(["18446744073709551615", "9223372036854775807", "1e308", "-1", '"43199"', "43199.0", "null", '"1e30"']):
    put("decode_token", f"expires_in-{i}", splice(tok, ["data", "expires_in"], raw))
put("decode_token", "timestamp-string", splice(tok, ["timestamp"], '"1652449735368"'))
put("decode_token", "code-string", splice(tok, ["code"], '"0"'))

# decode_login
login = fixture("login-200.json")
put("decode_login", "login-200.json", open(os.path.join(fx, "login-200.json"), "rb").read())
put("decode_login", "login-201.json", status(201, compact(fixture("login-201.json"))))
for i, (path, raw) in enumerate([
    (["data", "gyToken", "proof", "sessionExpiration"], "9223372036854775807"),
    (["data", "gyToken", "proof", "sessionExpiration"], "-9223372036854775808"),
    (["data", "gyToken", "proof", "sessionExpiration"], '"1659005928000"'),
    (["data", "gyToken", "expiration"], "18446744073709551615"),
    (["data", "gyToken", "expiration"], "1e308"),
    (["data", "lsToken", "expires_in"], "-1e308"),
    (["data", "gyToken", "endpoint"], '"ws://127.0.0.1:9001"'),
    (["data", "gyToken", "endpoint"], '"wss://abc.iot.us-east-1.amazonaws.com:443/mqtt"'),
    (["data", "gyToken", "region"], '""'),
]):
    put("decode_login", f"login-{i}", splice(login, path, raw))

# decode_packages
put("decode_packages", "getAll.json", open(os.path.join(fx, "getAll.json"), "rb").read())
put("decode_packages", "getById.json", open(os.path.join(fx, "getById.json"), "rb").read())
one = fixture("getById.json")
for i, (field, raw) in enumerate([("createdTime", '"1659597359000"'), ("changedTime", "-9223372036854775808"),
                                  ("cloudRecordPackageId", "9223372036854775807"), ("createdBy", "1.0"),
                                  ("createdTime", "1e308")]):
    put("decode_packages", f"getById-{i}", splice(one, ["data", field], raw))
put("decode_packages", "getAll-empty", '{"code":0,"msg":"SUCCESS","timestamp":1667377173954,"data":[],"success":true}')

# decode_other
for name in ["register-200.json", "removeAccount-200.json", "open.json"]:
    put("decode_other", name, open(os.path.join(fx, name), "rb").read())
for name in ["register-201.json", "removeAccount-201.json"]:
    put("decode_other", name, status(201, compact(fixture(name))))
put("decode_other", "open-number", '{"code":0,"msg":"SUCCESS","timestamp":1660274059546,"data":123456789,"success":true}')
put("decode_other", "secret-cut", status(400, '{"code":0,"data":{"userId":"1","token":"abcdef\\"12'))
put("decode_other", "503-nginx", status(503, "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n</html>"))

# cognito: <selector?><body>[0xFF<X-Amzn-ErrorType>]
ok = {"Credentials": {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "Expiration": 1.700003600e9,
                      "SecretKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", "SessionToken": "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="},
      "IdentityId": "us-east-1:7a3b7e2c-5d4f-4e1a-9c7e-EXAMPLE"}
put("cognito", "200", compact(ok))
for i, raw in enumerate(["1e300", "1700003600.123", "-1", "0", '"1700003600"', "null", "18446744073709551615"]):
    put("cognito", f"200-expiration-{i}", splice(ok, ["Credentials", "Expiration"], raw))
put("cognito", "400-not-authorized", status(400, '{"__type":"NotAuthorizedException","message":"Invalid login token. Token expired: 1700000000 >= 1699999999"}'))
put("cognito", "400-resource", status(400, '{"__type":"com.amazonaws.cognito.identity.model#ResourceNotFoundException","Message":"Identity not found"}'))
put("cognito", "400-header", status(400, b'{"__type":null,"message":null}\xffNotAuthorizedException:http://internal.amazon.com/coral/com.amazonaws.cognito.identity/'))
put("cognito", "429-throttle", status(429, '{"__type":"TooManyRequestsException","message":"Rate exceeded"}'))
put("cognito", "502-html", status(502, "<html><body>Bad Gateway</body></html>"))

# retry_after_and_date: <Retry-After>\n<Date>
for i, (ra, date) in enumerate([
    ("120", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ("Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT"),
    ("18446744073709551615", "Sunday, 06-Nov-94 08:49:37 GMT"),
    ("-1", "Sun Nov  6 08:49:37 1994"),
    ("1e30", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ("184467440737095516150", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("Sat, 01 Jan 2000 00:00:00 GMT", "yesterday"),
    ("   ", ""),
]):
    put("retry_after_and_date", f"pair-{i}", f"{ra}\n{date}")

# provisioning: the documented vectors ("Signature" in docs/spec-summary.md)
KEY = "pzD5XinRSlmA64tZx81fL92YcBsJK0gd"; SECRET = "U1SXE6k57vxVRjTomgquwC2F3tH8ziOB"
def enc(t):
    return "".join(c if (c.isascii() and (c.isalnum() or c in "-_.~")) else "".join("%%%02X" % b for b in c.encode()) for c in t)
def render(v):
    if isinstance(v, str): return v
    if v is None: return ""
    return compact(v)
def v1(method, path, params):
    joined = "&".join(f"{k}={render(params[k])}" for k in sorted(params) if k != "signature")
    src = f"{method.upper()}&{enc(path)}&{enc(joined)}"
    return base64.b64encode(hmac.new((SECRET + "&").encode(), src.encode(), hashlib.sha1).digest()).decode()
cases = [
    ("PUT", "/license/customers/123456/activate", {"platform": "android|ios", "expire": "1619913600-1619917200", "type": "normal"}),
    ("POST", "/customers/123456/projects/new", {"projectId": 430892}),
    ("PUT", "/customers/123456/projects/430892/deactivate", {}),
    ("POST", "/customers/new", {"customerId": "cust-9", "planId": "plan-pro", "customerName": "Acme", "customerEmail": "ops@example.com", "customerPhone": "+1 555 0100"}),
    ("PUT", "/customers/123456/deactivate", {}),
]
assert v1("POST", "/customers/123456/projects/new", {"projectId": 430892, "apiKey": KEY}) == "QRJDBm3gGmlFb5ZF9XBqm7u4EkI="
for i, (m, p, fields) in enumerate(cases):
    body = dict(fields); body["apiKey"] = KEY; body["signature"] = v1(m, p, body)
    put("provisioning_body", f"signed-{i}", compact(body))
    put("provisioning_path", f"route-{i}", f"{m}\n{p}")
    put("provisioning_signature", f"v1-{i}", f"{m}\n{p}\n\n\n\n\n{compact(body)}")
put("provisioning_body", "doc-post-example", '{"projectId":430892,"apiKey":"pzD5XinRSlmA64tZx81fL92YcBsJK0gd","signature":"YZOl2v5q3I7o0x3F13tpnkq5aDI="}')
put("provisioning_body", "license-bad", '{"platform":"|","expire":"-5-10","type":5,"apiKey":"k","signature":"s"}')
put("provisioning_body", "projectId-string", '{"projectId":"430892","planId":12.5,"apiKey":"' + KEY + '","signature":"SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D"}')
put("provisioning_path", "double-slash", "PUT\n//customers/123456/projects/430892/deactivate")
put("provisioning_path", "licenses", "GET\n/licenses/abcdef0123456789abcdef0123456789")
put("provisioning_path", "health", "GET\n/health")
put("provisioning_path", "percent", "PUT\n/customers/%E4%BD%A0%2/projects/9223372036854775808/deactivate")
put("provisioning_path", "basic", "GET\nBasic YWJjZGVmOnNlY3JldA==")
# v2: hex(HMAC-SHA256(secret, METHOD\npath\ntimestamp\nbody))
body = '{"projectId":430892}'
sig = hmac.new(SECRET.encode(), f"POST\n/customers/1/projects/new\n1700000000\n{body}".encode(), hashlib.sha256).hexdigest()
put("provisioning_signature", "v2-ok", f"POST\n/customers/1/projects/new\n1700000000\n{sig}\n{KEY}\n1700000200\n{body}")
put("provisioning_signature", "v2-late", f"POST\n/customers/1/projects/new\n1700000000\n{sig}\n{KEY}\n1700000400\n{body}")
put("provisioning_signature", "v2-min-timestamp", f"POST\n/customers/1/projects/new\n-9223372036854775808\n{sig}\n{KEY}\n1700000000\n{body}")
put("provisioning_signature", "v1-get-urlencoded", f"GET\n/usage\n\n\n\n\n" + compact({"fromTs": "1619913600", "toTs": "1619917200", "pageNum": "1", "apiKey": KEY, "signature": "SFVnCVlRbrZcjMPGTWVxAE4QWZ8%3D"}))
