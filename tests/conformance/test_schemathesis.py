"""Schemathesis against the app's own OpenAPI document, every phase: the documented examples,
the coverage phase (boundary and negative values of every parameter, missing bodies and
headers, undocumented methods), fuzzing, and stateful sequences chained by the document's
links. Authenticated; every response must match the documented statuses, headers and schemas,
never be a 5xx, and valid data must be accepted (save for requests carrying state no schema can
describe, see ``carries_state``). Bounded: a fixed number of examples per operation,
in-process (WSGI)."""

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from mongo_todos import create_app
from mongo_todos.store.documents import IdempotencyRecord, SyncCounter, Todo, Tombstone
from tests.conftest import TEST_CONFIG, TEST_ENV

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))

# Built at collection: its requests use whichever in-memory store the latest app connected,
# which is fine as every test app shares TEST_ENV's signing keys.
APP = create_app(TEST_CONFIG, env=TEST_ENV)
CLIENT = APP.test_client()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)
# A todo deleted earlier in a stateful sequence answers a valid request with 410 (todo-deleted),
# as an unknown id answers 404: both are documented answers to valid data in that state.
_acceptance = schema.config.checks.positive_data_acceptance
_acceptance.expected_statuses = [*_acceptance.expected_statuses, "410"]
# an NDJSON import body is text (documented as a string)
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


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
        # identity: schemathesis asks for gzip like any requests-based client, but its WSGI
        # transport does not decode it (tests/web/test_compression.py covers gzip)
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}",
                        "Accept-Encoding": "identity"}


def carries_state(case) -> bool:
    """Whether the request carries something valid only in a state no schema can describe:
    a cursor or a sync token (``since``; valid only when this service issued it to this
    account), an Idempotency-Key (valid only with
    the body it was first used with), an If-Match (valid only with the current ETag) or an
    If-Unmodified-Since (valid only on or after the resource's last change), an If-None-Match
    (``*`` on a PUT: valid only with an unused id), a Range (valid only within the file's
    length). A generated one is rightly refused (400/412/422), so "valid data must be
    accepted" cannot apply to it; every other request keeps that check."""
    headers = {name.lower() for name in case.headers or {}}
    query = case.query or {}
    stateful = {"idempotency-key", "if-match", "if-unmodified-since", "if-none-match", "range"}
    return bool(query.get("cursor") or query.get("since")) or bool(stateful & headers)


def untyped_text(case) -> bool:
    """Whether the body is NDJSON text (an import): any value a fuzzer makes "not a string"
    reaches the server as text all the same, so "invalid data is rejected" cannot apply."""
    return (case.media_type or "").startswith("application/x-ndjson")


def excluded_checks(case) -> list:
    return ([positive_data_acceptance] if carries_state(case) else []) + (
        [negative_data_rejection] if untyped_text(case) else [])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_its_documentation(case):
    case.call_and_validate(excluded_checks=excluded_checks(case))


# The stateful phase: sequences of calls chained by the document's links (create a todo, then
# read, change, replace or delete it), each response checked like the single calls above.
STEPS = int(os.environ.get("FUZZ_STEPS", "6"))
schema.config.phases.stateful.max_steps = STEPS
class TodoWorkflow(schema.as_state_machine()):
    def setup(self):
        # every scenario starts from the same data: hypothesis replays scenarios and needs the
        # same answers to the same calls (an Idempotency-Key left by an earlier one would not)
        with APP.app_context():
            for document in (Todo, IdempotencyRecord, Tombstone, SyncCounter):
                document.objects.delete()

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(response, additional_checks=additional_checks,
                               excluded_checks=excluded_checks(case),
                               transport_kwargs=kwargs or None)


TestTodoWorkflow = TodoWorkflow.TestCase
TestTodoWorkflow.settings = settings(
    max_examples=max(5, MAX_EXAMPLES // 3), deadline=None,
    suppress_health_check=list(HealthCheck), stateful_step_count=STEPS,
)


def test_every_phase_runs():
    phases = schema.config.phases
    assert all(getattr(phases, name).enabled
               for name in ("examples", "coverage", "fuzzing", "stateful"))
    links = TodoWorkflow.schema.raw_schema["paths"]["/api/v1/todos"]["post"]["responses"]["201"]
    assert {"GetTodo", "UpdateTodo", "ReplaceTodo", "DeleteTodo"} <= set(links["links"])
