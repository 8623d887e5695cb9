"""The admin and merger APIs against the OpenAPI documents they publish: every request the document
allows is accepted (no refusal for its shape), every request it does not allow is refused, no request
gets a 5xx, and every answer is one the document describes (status, content type, headers, body).

schemathesis runs all its phases over HTTP against a local stack of this directory's own: each
operation's examples, the coverage phase (boundary values, missing and mistyped fields, undeclared
content types and methods), fuzzed cases valid (positive) and schema-breaking (negative), and stateful
sequences that follow the documents' links (create a robot then delete it, upload a merger then
download it...). Valid requests do real work: robots are created in the Tencent IM emulator, messages
go to generated users, broadcasts to generated groups, mergers are stored.

Every check runs but one: unsupported_method expects a 405 for a method an operation does not declare,
and API Gateway (the local stack like AWS) answers a 404 for a method no route declares, before any
function runs.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks
from schemathesis.checks import CHECKS, load_all_checks

load_all_checks()
CHECKS_RUN = [check for check in CHECKS.get_all() if check is not checks.unsupported_method]

admin = schemathesis.pytest.from_fixture("admin_schema")
merger = schemathesis.pytest.from_fixture("merger_schema")

# How much runs, chosen for CI time (2 cores, busy: the directory, stack start and stop included, takes
# about 5 minutes, some 6,000 requests): max_examples bounds the fuzzed cases per operation (25) and the
# stateful scenarios (15 of up to 6 steps, per API); the examples and the coverage phase (every boundary
# and mutation of each operation, most of the requests) come on top and are always run whole.
# The cases are the same on every run: seeds are fixed (conftest.py, derandomize), and no example
# database is read or written. No shrinking: a failure is reported as found, with a curl line to
# repeat it. How fast cases are drawn says nothing about the APIs, and the machine may be busy; the
# rules between fields (oneOf) are drawn by filtering.
HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much]
UNIT = settings(
    max_examples=25,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=HEALTH,
)
STATEFUL = settings(
    max_examples=15,
    stateful_step_count=6,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=HEALTH,
)


@admin.parametrize()
@UNIT
def test_the_admin_api_does_what_its_document_says(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS_RUN)


@merger.parametrize()
@UNIT
def test_the_merger_api_does_what_its_document_says(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS_RUN)


def _machine(schema: schemathesis.BaseSchema) -> Any:
    class Machine(schema.as_state_machine()):  # type: ignore[misc]  # a class made at run time
        def validate_response(self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS_RUN, transport_kwargs=kwargs or None, recorder=self.recorder)

    return Machine


def test_admin_sequences_follow_the_document(admin_schema: schemathesis.BaseSchema) -> None:
    _machine(admin_schema).run(settings=STATEFUL)


def test_merger_sequences_follow_the_document(merger_schema: schemathesis.BaseSchema) -> None:
    _machine(merger_schema).run(settings=STATEFUL)
