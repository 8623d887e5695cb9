"""Contract fixtures: the admin and merger APIs' OpenAPI documents as the running local stack publishes
them, with what schemathesis must know beyond them (tests/contract/hooks.py)."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode

# Registers the documents' own string formats and the Idempotency-Key hook.
import tests.contract.hooks  # noqa: F401

# The e2e fixture itself. Imported here it becomes a fixture of this directory too, with an instance
# of its own: the contract run gets a stack of its own, so the broadcasts to generated groups it
# starts cannot take the REST budget or fill the jobs list the e2e admin tests measure.
from tests.e2e.conftest import StackState, local_stack  # noqa: F401
from timkit.tim.usersig import gen_usersig

# Mixed with each operation's label by schemathesis: every operation gets fixed cases of its own.
SEED = 20_241_121
# Who the merger API's calls are made as (any user: the API takes every user's own UserSig).
MERGER_USER = "contract-user"


def _schema(stack: StackState, path: str, headers: dict[str, str] | None = None) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{stack.api_url}{path}")
    config = schema.config
    # The documents name "/" as their server: requests go to the stack that published them.
    config.update(base_url=stack.api_url, headers=headers)
    config.seed = SEED
    config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return schema


@pytest.fixture(scope="session")
def admin_schema(local_stack: StackState) -> schemathesis.BaseSchema:  # noqa: F811 - the fixture imported above
    return _schema(local_stack, "/admin/openapi.json")


@pytest.fixture(scope="session")
def merger_schema(local_stack: StackState) -> schemathesis.BaseSchema:  # noqa: F811 - the fixture imported above
    sig = gen_usersig(local_stack.sdkappid, local_stack.secret_key, MERGER_USER, 24 * 3600)
    return _schema(local_stack, "/mergers/openapi.json", {"Authorization": f"Bearer {sig}"})


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32.5's from_fixture() reads (and rewrites) Node._nodeid, which pytest 9.2 no
    # longer has; the public nodeid is the same value.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
