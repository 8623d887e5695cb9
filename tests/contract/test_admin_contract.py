"""The admin API against the OpenAPI document it publishes: no request, however malformed, gets a
5xx, and every answer is one the document describes (status, content type, body).

schemathesis sends each operation of the document its examples, the cases of its coverage phase
(boundary values, missing and mistyped fields, undeclared content types and methods) and fuzzed
ones, valid (positive) and schema-breaking (negative), over HTTP to the local stack. Nothing is
left out but the two methods named in conftest.py. Valid requests do real work there: robots are
created and deleted in the Tencent IM emulator, messages go to generated users and broadcasts to
generated groups (the emulator answers them), on a stack of this directory's own.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

schema = schemathesis.pytest.from_fixture("admin_schema")

CHECKS = [
    checks.not_a_server_error,
    # The answer is one the document lists for the operation, with its content type and body.
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    # Not negative_data_rejection: the message parts are Tencent's wire models, lax as Tencent is
    # (a `false` for a 0/1 PushFlag is taken as 0), so type-breaking data there is not always
    # refused, by design. The admin API's own fields are strict (tests/unit/test_admin_models.py).
    # Not positive_data_acceptance: the rules between fields (one of toUser, toUsers and toGroup;
    # groupIds or allGroups; at or cron), unique IDs and limits in bytes are the models', not the
    # document's, so a request valid by the document alone is often a correct 422.
]


# max_examples bounds the fuzzed cases per operation (the examples and the coverage phase's ~1,700
# cases come on top): the whole directory, stack start included, runs in about a minute on 2 cores.
# No shrinking: a failure is reported as found, with a curl line to repeat it. The cases are the
# same on every run: the seed is fixed in conftest.py, and no example database is read or written.
@schema.parametrize()
@settings(
    max_examples=200,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    # How fast cases are drawn says nothing about the API, and the machine may be busy.
    suppress_health_check=[HealthCheck.too_slow],
)
def test_no_request_gets_a_5xx_or_an_undocumented_answer(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
