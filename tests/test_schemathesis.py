"""Schemathesis against the app's own OpenAPI document: generated requests for every operation,
authenticated, must never give a 5xx and must match the documented statuses, headers and
schemas. Bounded: a fixed number of examples per operation, in-process (WSGI)."""

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from conftest import TEST_CONFIG, TEST_ENV
from mongo_todos import create_app

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))

# Built at collection: its requests use whichever in-memory store the latest app connected,
# which is fine as every test app shares TEST_ENV's signing keys.
APP = create_app(TEST_CONFIG, env=TEST_ENV)
CLIENT = APP.test_client()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


def fresh_token() -> str:
    """A new login for every case: a generated DELETE /tokens must not end the others'."""
    credentials = {"username": "fuzz", "password": "correct horse"}
    CLIENT.post("/api/v1/users", json=credentials)  # 201 the first time, 409 after
    return CLIENT.post("/api/v1/tokens", json=credentials).get_json()["access_token"]


@schema.auth()
class BearerToken:
    """Schemathesis applies it where the spec asks for auth (and knows when it did)."""

    def get(self, case, context):
        return fresh_token()

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_its_documentation(case):
    # a cursor is valid only when this service issued it, and an Idempotency-Key only with the
    # body it was first used with; no schema can say either, so a generated one is rightly
    # refused (400/422) and "valid data must be accepted" cannot apply to it
    stateful = (case.query or {}).get("cursor") or "Idempotency-Key" in (case.headers or {})
    excluded = [positive_data_acceptance] if stateful else []
    case.call_and_validate(excluded_checks=excluded)
