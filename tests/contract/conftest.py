"""Contract fixtures: the admin API's OpenAPI document as the running local stack publishes it."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode

# The e2e fixture itself. Imported here it becomes a fixture of this directory too, with an instance
# of its own: the contract run gets a stack of its own, so the broadcasts to generated groups it
# starts cannot take the REST budget or fill the jobs list the e2e admin tests measure.
from tests.e2e.conftest import StackState, local_stack  # noqa: F401

# Mixed with each operation's label by schemathesis: every operation gets fixed cases of its own.
SEED = 20_241_121


@pytest.fixture(scope="session")
def admin_schema(local_stack: StackState) -> schemathesis.BaseSchema:  # noqa: F811 - the fixture imported above
    schema = schemathesis.openapi.from_url(f"{local_stack.api_url}/admin/openapi.json")
    config = schema.config
    # The document names "/" as its server: requests go to the stack that published it.
    config.update(base_url=local_stack.api_url)
    config.seed = SEED
    config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return schema


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32.5's from_fixture() reads (and rewrites) Node._nodeid, which pytest 9.2 no
    # longer has; the public nodeid is the same value.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
