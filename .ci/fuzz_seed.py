"""Gives the fuzzer ids that exist: reads a running `hookhost demo`'s demo.json, makes it a
few objects more (a process, some asynchronous calls), and writes one dictionary file per
kind of id (libFuzzer's format, one quoted entry a line) for .ci/schemathesis.toml.

Usage: python3 .ci/fuzz_seed.py DATA_DIR OUT_DIR (standard library only).
"""

import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.request
from pathlib import Path

data_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
demo = json.loads((data_dir / "demo.json").read_text())
base = demo["base_url"]
PROVIDER = f"Bearer {demo['provider_token']}"
TENANT = f"rest_api_key={demo['tenant']['rest_api_key']}"
ADMIN = f"Bearer {demo['admin_token']}"


def call(method, path, authorization=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if authorization:
        request.add_header("Authorization", authorization)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def ids(page):
    return [item["id"] for item in page["data"]]


# Asynchronous calls, so that resends have something to resend: one smartml trigger per
# module, signed as the demo's API user.
token, secret = demo["tenant"]["smartml_token"], demo["tenant"]["smartml_secret"]
actionid = "urn:onoffice-de-ns:smart:2.5:smartml:action:do"
resourcetype = "executeMarketplaceWebhooks"
actions = []
for module in ["estate", "address", "task", "calendar"]:
    timestamp = str(int(time.time()))
    mac = hmac.new(
        secret.encode(), (timestamp + token + resourcetype + actionid).encode(), hashlib.sha256
    )
    actions.append(
        {
            "actionid": actionid,
            "resourceid": "15005",
            "resourcetype": resourcetype,
            "identifier": "",
            "timestamp": int(timestamp),
            "hmac": base64.b64encode(mac.digest()).decode(),
            "hmac_version": "2",
            "parameters": {"module": module, "elements": {"kaufpreis": 350000, "wohnflaeche": 92}},
        }
    )
    time.sleep(1.05)  # an HMAC is good for one request: a new second, a new HMAC
    call("POST", "/api/stable/api.php", body={"token": token, "request": {"actions": actions[-1:]}})

webhooks = [webhook["id"] for webhook in demo["webhooks"]]
calls = []
for _ in range(40):
    calls = [
        logged["id"]
        for webhook in webhooks
        for logged in call("GET", f"/public/v1/notifications/webhooks/{webhook}/calls", PROVIDER)[
            "data"
        ]
    ]
    if calls:
        break
    time.sleep(0.5)

templates = ids(call("GET", "/api/v1/process-templates", TENANT))
start = json.loads((data_dir / "samples" / "process-start.json").read_text())
process = call("POST", "/api/v1/processes", TENANT, start)
components = call("GET", "/public/v1/components", PROVIDER)["data"]

dictionaries = {
    "webhooks": webhooks,
    "calls": calls,
    "components": [c["id"] for c in components],
    "component-references": [f"{c['name']}@{c['version']}" for c in components]
    + [c["digest"] for c in components],
    "services": ids(call("GET", "/admin/v1/services", ADMIN)),
    "tenants": ids(call("GET", "/admin/v1/tenants", ADMIN)),
    "templates": templates,
    "processes": [process["id"]],
    "records": ["15005", "4711", process["recordId"]],
    "extensions": [w["extension"] for w in demo["webhooks"] if w["extension"]],
    "validations": ["validatePurchaseOrderDraft"],
}
out_dir.mkdir(parents=True, exist_ok=True)
for name, values in dictionaries.items():
    if not values:
        sys.exit(f"no {name} to seed the fuzzer with")
    lines = [json.dumps(value, ensure_ascii=True) for value in dict.fromkeys(values)]
    (out_dir / f"{name}.dict").write_text("\n".join(lines) + "\n")
    print(f"{name}: {len(lines)}")
