"""Property-based fuzzing of every operation in the app's OpenAPI schema with schemathesis, against the
real ASGI app: whatever a script sends, the API must answer with a 4xx that tells it what was wrong,
never a 500, and every documented response must match its declared schema.

Path parameters are random for a third of the examples, schema-violating (negative) for another
third, and for the rest they name the seeded session and its failed job, so the fuzzer also reaches
the code behind the 404: memo saves, restores, diffs, speaker renames, retries.

The operations are driven one by one with `APIOperation.as_strategy` rather than through
`schemathesis.pytest.from_fixture`, whose lazy loader breaks on pytest 9.2 (it sets
`Function._nodeid`, which pytest no longer has)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from insightcap.auth.schema import Role
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope

pytest_plugins = ["tests.web_fixtures"]
pytest.register_assert_rewrite("tests.web_fixtures")  # before importing it, so its asserts are rewritten
from tests.web_fixtures import make_account

CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("INSIGHTCAP_FUZZ_EXAMPLES", "25"))  # per operation; raise it for a deeper run
BOUNDED = settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture
def failed_job(settings, seeded_session) -> str:
    with session_scope(settings) as db:
        job = repo.create_job(db, seeded_session, ["structure"])
        job.status, job.error = "failed", "the fuzz test says so"
        return job.id


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def fuzz_every_operation(api_schema, known: dict[str, str], examples: int, run: Callable[[Case], None],
                         modes: tuple[GenerationMode, ...] = tuple(GenerationMode)) -> list[str]:
    """Runs `run` on generated cases of each operation; returns one report per operation that failed."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        fixed = {name: value for name, value in known.items() if name in operation.path}
        strategies = [operation.as_strategy(mode) for mode in modes]
        if fixed and operation.method.upper() != "DELETE":  # deleting the seeded session would leave only 404s
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed))

        @settings(BOUNDED, max_examples=examples)
        @given(case=st.one_of(strategies))
        def check(case: Case) -> None:
            run(case)

        try:
            check()
        except (Exception, FailureGroup) as error:
            failures.append(f"{operation.label}: {error}")
    return failures


@pytest.fixture
def fuzz_as_admin(api_schema, settings, seeded_session, failed_job):
    """Fuzzes every operation as an admin with the given checks; returns the failures and, per
    operation, the statuses it answered."""
    token = make_account(settings, "fuzz-admin@example.org", Role.ADMIN)
    known = {"session_id": seeded_session, "job_id": failed_job}

    def fuzz(checks: list) -> tuple[list[str], dict[str, set[int]]]:
        statuses: dict[str, set[int]] = defaultdict(set)

        def run(case: Case) -> None:
            response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=checks)
            statuses[case.operation.label].add(response.status_code)

        return fuzz_every_operation(api_schema, known, EXAMPLES, run), statuses

    return fuzz


@pytest.mark.slow
def test_no_input_makes_the_api_answer_500(fuzz_as_admin) -> None:
    failures, statuses = fuzz_as_admin([not_a_server_error])
    assert not failures, "\n\n".join(failures)
    # The fuzzer got past the 404s into the seeded session.
    for label in ("GET /api/sessions/{session_id}", "GET /api/sessions/{session_id}/memo/export/{fmt}",
                  "GET /api/jobs/{job_id}"):
        assert 200 in statuses[label], (label, statuses[label])


def test_a_version_number_too_large_for_sqlite_is_not_found_rather_than_500(client, seeded_session) -> None:
    """Found by this fuzzer with INSIGHTCAP_FUZZ_EXAMPLES=300: SQLite's INTEGER is 64-bit."""
    huge = 2**63
    memo = f"/api/sessions/{seeded_session}/memo"
    assert client.get(f"{memo}/versions/{huge}").status_code == 404
    assert client.get(f"{memo}/diff", params={"before": huge, "after": 1}).status_code == 404
    assert client.post(f"{memo}/restore", json={"restore_version": huge, "version": 1}).status_code in (404, 409)


@pytest.mark.slow
def test_every_answer_matches_the_documented_status_and_schema(fuzz_as_admin) -> None:
    failures, _ = fuzz_as_admin(CONFORMANCE)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_without_credentials_every_operation_but_health_answers_401(api_schema, seeded_session) -> None:
    """Well-formed requests only: FastAPI decodes a JSON body before any dependency runs, so a stranger
    sending an undecodable body gets 400/422 ("JSON decode error"), which says nothing about the data."""
    def run(case: Case) -> None:
        response = case.call()
        expected = 200 if case.operation.path == "/api/health" else 401
        assert response.status_code == expected, (case.operation.label, response.status_code, response.text)

    failures = fuzz_every_operation(api_schema, {"session_id": seeded_session}, 5, run, (GenerationMode.POSITIVE,))
    assert not failures, "\n\n".join(failures)
