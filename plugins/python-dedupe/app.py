"""python-dedupe: a hookhost plugin in Python that finds duplicate addresses.

Built with componentize-py against the frozen `wit/since_v0.1.0/` (world `handler`,
`marketplace:webhook@0.1.0`: the host keeps serving it):

    componentize-py -d ../../wit/since_v0.1.0 -w handler componentize app -o python_dedupe.wasm

For every address it computes a fingerprint of the normalised match fields (`dedupe.py`) and
keeps `fingerprint -> record id` in the host's key-value store, which is scoped to the tenant
and the service: two tenants never see each other's addresses. The body is

    {"duplicate": bool, "duplicateOf": "<record id>" | null, "fingerprint": "<hex>",
     "matchedOn": ["name", "email", ...]}

Activation parameters (`host.config`):
- `match_fields`: comma-separated subset of name, email, phone, street
  (default `name,email,phone,street`);
- `country_code`: the calling code national phone numbers get (default `49`).

Failures, one of each kind the host distinguishes:
- an address without any identifying field is `rejected` (a business "no", never retried);
- a payload that is JSON but not an object, or a bad `match_fields`, is `invalid-input`;
- a payload that is not JSON at all raises `json.JSONDecodeError`, uncaught on purpose: the
  host turns an exception into a trapped call and keeps the traceback in the call log.
"""

import json

import dedupe
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

#: kv key of the record that owns a fingerprint.
FINGERPRINT_KEY = "fp:"
#: kv key of the fingerprint a record had when it was last seen (to retire it on change).
RECORD_KEY = "rec:"


class Plugin(exports.Plugin):
    def handle(self, invocation: Invocation) -> Outcome:
        # Not JSON: the exception propagates (see the module docs).
        payload = json.loads(invocation.payload)
        if not isinstance(payload, dict):
            raise Err(Failure_InvalidInput("the address payload must be a JSON object"))

        try:
            match_fields = dedupe.parse_match_fields(
                host.config("match_fields") or ",".join(dedupe.FIELDS)
            )
        except ValueError as error:
            raise Err(Failure_InvalidInput(f"match_fields: {error}"))
        country_code = (host.config("country_code") or "49").lstrip("+")

        normalized = dedupe.normalize(payload, country_code)
        fingerprint, used = dedupe.fingerprint(normalized, match_fields)
        if fingerprint is None:
            raise Err(
                Failure_Rejected(
                    "the address has none of the identifying fields "
                    f"{', '.join(match_fields)}: nothing to compare"
                )
            )
        record = dedupe.record_id(invocation.record_id, payload)
        host.log(Level.DEBUG, f"record {record or '(none)'}: fingerprint of {', '.join(used)}")

        owner = kv.get(FINGERPRINT_KEY + fingerprint)
        owner = owner.decode("utf-8") if owner is not None else None
        duplicate_of = owner if owner is not None and owner != record else None

        if record and duplicate_of is None:
            self._remember(record, fingerprint)

        if duplicate_of is not None:
            host.log(Level.INFO, f"record {record or '(none)'} duplicates {duplicate_of}")
        else:
            host.log(Level.INFO, f"record {record or '(none)'} is new or unchanged")
        body = {
            "duplicate": duplicate_of is not None,
            "duplicateOf": duplicate_of,
            "fingerprint": fingerprint,
            "matchedOn": list(used),
        }
        return Outcome(json.dumps(body, ensure_ascii=False), [])

    @staticmethod
    def _remember(record: str, fingerprint: str) -> None:
        """Stores `fingerprint -> record`, retiring the record's previous fingerprint (the
        address was edited) so that the old spelling no longer points at it."""
        previous = kv.get(RECORD_KEY + record)
        if previous is not None:
            previous = previous.decode("utf-8")
            if previous != fingerprint:
                old_owner = kv.get(FINGERPRINT_KEY + previous)
                if old_owner is not None and old_owner.decode("utf-8") == record:
                    kv.delete(FINGERPRINT_KEY + previous)
        try:
            kv.set(FINGERPRINT_KEY + fingerprint, record.encode("utf-8"))
            kv.set(RECORD_KEY + record, fingerprint.encode("utf-8"))
        except Err as error:
            # The store refused (size limits): the verdict stands, the memory does not.
            host.log(Level.WARN, f"could not remember record {record}: {error.value}")
