"""{{name}}: a hookhost plugin in Python, built with componentize-py.

The host calls `Plugin.handle` once per webhook call. `wit_world` is generated from
`wit/handler.wit` (`./build.sh` writes a copy next to this file for your editor).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, kv
from wit_world.imports.types import (
    Failure_InvalidInput,
    Failure_Rejected,
    Invocation,
    Level,
    Outcome,
)


class Plugin(exports.Plugin):
    def handle(self, invocation: Invocation) -> Outcome:
        try:
            payload = json.loads(invocation.payload)
        except ValueError as error:
            # Final, not retried. (An exception that escapes `handle` traps the call.)
            raise Err(Failure_InvalidInput(f"the payload is not JSON: {error}"))
        if not isinstance(payload, dict) or not payload:
            # A business "no": final, not retried.
            raise Err(Failure_Rejected("the record has no fields"))
        # Activation parameters of the tenant (`hookhost plugin run --set greeting=…`).
        greeting = host.config("greeting") or "Hallo"
        # Secret parameters (sealed at rest, masked in every API) are read apart
        # (`hookhost plugin run --secret api_key=…`); `config` does not return them.
        api_key_set = host.secret("api_key") is not None
        # The key-value store is scoped to the tenant and the service.
        calls = int((kv.get("calls") or b"0").decode()) + 1
        kv.set("calls", str(calls).encode())
        host.log(
            Level.INFO,
            f"{invocation.module} {invocation.record_id} for tenant {invocation.tenant.id}",
        )
        body = {
            "greeting": greeting,
            "module": invocation.module,
            "recordId": invocation.record_id,
            "fields": len(payload),
            "calls": calls,
            "apiKeySet": api_key_set,
        }
        return Outcome(json.dumps(body), [])
