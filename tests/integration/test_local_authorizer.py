"""HttpApi Lambda authorizers in the local gateway, with throwaway handlers: identity sources, the
payload 2.0 authorizer event, simple and IAM policy responses, failures and the result cache.

The handlers run in worker processes: each appends the events it gets to a file under CALLS_DIR."""

from __future__ import annotations

import copy
import http.client
import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import gateway
from local import template as tpl
from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


def _authorizer(identity: dict[str, Any], simple: bool = True) -> dict[str, Any]:
    return {
        "FunctionArn": {"Fn::GetAtt": ["AuthFunction", "Arn"]},
        "AuthorizerPayloadFormatVersion": "2.0",
        "EnableSimpleResponses": simple,
        "Identity": identity,
    }


def _route(method: str, path: str, authorizer: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"ApiId": {"Ref": "Api"}, "Method": method, "Path": path}
    if authorizer:
        props["Auth"] = {"Authorizer": authorizer}
    return {"Type": "HttpApi", "Properties": props}


TEMPLATE: dict[str, Any] = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Transform": "AWS::Serverless-2016-10-31",
    "Globals": {
        "Function": {
            "Runtime": "python3.13",
            "Timeout": 5,
            "Environment": {"Variables": {"CALLS_DIR": "set by the stack fixture"}},
        }
    },
    "Resources": {
        "Api": {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {
                "Auth": {
                    "EnableIamAuthorizer": True,
                    "Authorizers": {
                        "TokenAuthorizer": _authorizer({"Headers": ["Authorization"], "ReauthorizeEvery": 60}),
                        "NoCacheAuthorizer": _authorizer(
                            {"Headers": ["Authorization"], "QueryStrings": ["tenant"], "ReauthorizeEvery": 0}
                        ),
                        "PolicyAuthorizer": _authorizer({"Headers": ["Authorization"]}, simple=False),
                    },
                }
            },
        },
        "AuthFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "auth/", "Handler": "app.handler"},
        },
        "WebFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "web/",
                "Handler": "app.handler",
                "Events": {
                    "Upload": _route("POST", "/mergers", "TokenAuthorizer"),
                    "Download": _route("GET", "/mergers/{downloadKey}", "TokenAuthorizer"),
                    "NoCache": _route("GET", "/nocache", "NoCacheAuthorizer"),
                    "Policy": _route("GET", "/policy/{name}", "PolicyAuthorizer"),
                    "Open": _route("GET", "/open/{name}"),
                    "Iam": _route("GET", "/iam", "AWS_IAM"),
                },
            },
        },
    },
}

# Allows "Bearer good..." and denies anything else; "Bearer boom" raises, "Bearer malformed" answers
# nonsense. /policy routes get an IAM policy: everything under /policy/ but /policy/secret.
AUTH_HANDLER = """
    import json, os

    def handler(event, context):
        with open(os.path.join(os.environ["CALLS_DIR"], "auth"), "a") as calls:
            calls.write(json.dumps(event) + "\\n")
        token = event["identitySource"][0]
        if token == "Bearer boom":
            raise RuntimeError("authorizer boom")
        if token == "Bearer malformed":
            return {"isAuthorized": "yes"}
        if event["routeKey"].startswith("GET /policy/"):
            base = event["routeArn"].rsplit("/policy/", 1)[0]
            return {
                "principalId": "alice",
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": base + "/policy/*"},
                        {"Effect": "Deny", "Action": ["execute-api:*"], "Resource": [base + "/policy/secret"]},
                    ],
                },
                "context": {"user": "alice", "via": "policy"},
            }
        return {"isAuthorized": token.startswith("Bearer good"), "context": {"user": "alice", "token": token}}
"""

WEB_HANDLER = """
    import json, os

    def handler(event, context):
        with open(os.path.join(os.environ["CALLS_DIR"], "web"), "a") as calls:
            calls.write(json.dumps(event) + "\\n")
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("authorizer")
    template = copy.deepcopy(TEMPLATE)
    (root / "calls").mkdir()
    template["Globals"]["Function"]["Environment"]["Variables"]["CALLS_DIR"] = str(root / "calls")
    (root / "template.yaml").write_text(json.dumps(template))
    for folder, source in (("auth", AUTH_HANDLER), ("web", WEB_HANDLER)):
        (root / folder).mkdir()
        (root / folder / "app.py").write_text(textwrap.dedent(source))
    with LocalStack(root / "template.yaml", api_port=0, aws_port=0) as local:
        yield local


def request(
    stack: LocalStack, method: str, path: str, headers: list[tuple[str, str]] = (), body: bytes = b""
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(stack.api_url.removeprefix("http://"), timeout=10)
    try:
        conn.putrequest(method, path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def bearer(kind: str) -> str:
    """A token no other test has used, so that no cached result answers for it."""
    return f"Bearer {kind}-{uuid.uuid4().hex[:8]}"


def calls(stack: LocalStack, function: str) -> list[dict[str, Any]]:
    path = stack.template_path.parent / "calls" / function
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def auth_calls(stack: LocalStack, token: str | None = None) -> list[dict[str, Any]]:
    return [c for c in calls(stack, "auth") if token is None or c["identitySource"][0] == token]


def web_calls(stack: LocalStack) -> list[dict[str, Any]]:
    return calls(stack, "web")


class TestLambdaAuthorizer:
    @pytest.mark.parametrize("headers", [[], [("Authorization", "")]], ids=["missing", "empty"])
    def test_missing_identity_source_is_401_without_invoking_the_authorizer(
        self, stack: LocalStack, headers: list[tuple[str, str]]
    ) -> None:
        before_auth, before_web = len(auth_calls(stack)), len(web_calls(stack))
        for method, path in (("POST", "/mergers"), ("GET", "/mergers/abc")):
            assert request(stack, method, path, headers) == (401, {"message": "Unauthorized"})
        assert (len(auth_calls(stack)), len(web_calls(stack))) == (before_auth, before_web)

    def test_every_identity_source_is_required(self, stack: LocalStack) -> None:
        token = bearer("good")
        assert request(stack, "GET", "/nocache", [("Authorization", token)])[0] == 401  # no ?tenant=
        assert request(stack, "GET", "/nocache?tenant=", [("Authorization", token)])[0] == 401
        assert auth_calls(stack, token) == []
        assert request(stack, "GET", "/nocache?tenant=t1", [("Authorization", token)])[0] == 200
        assert auth_calls(stack, token)[0]["identitySource"] == [token, "t1"]

    def test_allowed_request_reaches_the_route_with_the_authorizer_context(self, stack: LocalStack) -> None:
        status, event = request(stack, "GET", "/mergers/abc%20def?x=1", [("Authorization", "Bearer good")])
        assert status == 200
        assert event["requestContext"]["authorizer"] == {"lambda": {"user": "alice", "token": "Bearer good"}}
        assert event["pathParameters"] == {"downloadKey": "abc def"}
        assert event["routeKey"] == "GET /mergers/{downloadKey}"

    def test_authorizer_event_is_payload_2_0(self, stack: LocalStack) -> None:
        token = bearer("good")
        status, event = request(
            stack, "GET", "/mergers/k1?a=1&a=2", [("Authorization", token), ("Cookie", "c1=v1; c2=v2")]
        )
        assert status == 200
        (auth,) = auth_calls(stack, token)
        assert list(auth)[:7] == [
            "version",
            "type",
            "routeArn",
            "identitySource",
            "routeKey",
            "rawPath",
            "rawQueryString",
        ]
        assert auth["version"] == "2.0"
        assert auth["type"] == "REQUEST"
        assert auth["routeArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/mergers/k1"
        assert auth["identitySource"] == [token]
        assert auth["routeKey"] == "GET /mergers/{downloadKey}"
        assert (auth["rawPath"], auth["rawQueryString"]) == ("/mergers/k1", "a=1&a=2")
        assert auth["cookies"] == ["c1=v1", "c2=v2"]
        assert auth["headers"] == event["headers"]
        assert auth["headers"]["authorization"] == token
        assert auth["queryStringParameters"] == {"a": "1,2"}
        assert auth["pathParameters"] == {"downloadKey": "k1"}
        route_context = {k: v for k, v in event["requestContext"].items() if k != "authorizer"}
        assert auth["requestContext"] == route_context
        assert "body" not in auth and "authorizer" not in auth["requestContext"]

    def test_denied_request_is_403(self, stack: LocalStack) -> None:
        before = len(web_calls(stack))
        assert request(stack, "POST", "/mergers", [("Authorization", "Bearer bad")], b"{}") == (
            403,
            {"message": "Forbidden"},
        )
        assert len(web_calls(stack)) == before

    def test_raising_authorizer_is_500_logged_and_not_cached(
        self, stack: LocalStack, caplog: pytest.LogCaptureFixture
    ) -> None:
        for _ in range(2):
            assert request(stack, "GET", "/mergers/k", [("Authorization", "Bearer boom")]) == (
                500,
                {"message": "Internal Server Error"},
            )
        assert "RuntimeError: authorizer boom" in caplog.text
        assert len(auth_calls(stack, "Bearer boom")) == 2

    def test_malformed_response_is_500_and_logged(self, stack: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
        assert request(stack, "GET", "/mergers/k", [("Authorization", "Bearer malformed")])[0] == 500
        assert "isAuthorized must be true or false" in caplog.text

    def test_results_are_cached_per_identity_for_the_ttl(
        self, stack: LocalStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        now = [1000.0]
        monkeypatch.setattr(gateway._Authorizer, "clock", staticmethod(lambda: now[0]))
        good, bad = bearer("good"), bearer("bad")
        for path in ("/mergers/one", "/mergers/two"):
            assert request(stack, "GET", path, [("Authorization", good)])[0] == 200
        # The cache belongs to the authorizer, not the route.
        assert request(stack, "POST", "/mergers", [("Authorization", good)], b"{}")[0] == 200
        assert len(auth_calls(stack, good)) == 1
        for _ in range(2):
            assert request(stack, "GET", "/mergers/one", [("Authorization", bad)])[0] == 403
        assert len(auth_calls(stack, bad)) == 1  # a cached deny is denied
        now[0] += 59
        assert request(stack, "GET", "/mergers/one", [("Authorization", good)])[0] == 200
        assert len(auth_calls(stack, good)) == 1
        now[0] += 1  # ReauthorizeEvery: 60
        assert request(stack, "GET", "/mergers/one", [("Authorization", good)])[0] == 200
        assert len(auth_calls(stack, good)) == 2

    def test_cached_context_is_handed_over_again(self, stack: LocalStack) -> None:
        token = bearer("good")
        contexts = [
            request(stack, "GET", "/mergers/k", [("Authorization", token)])[1]["requestContext"]["authorizer"]
            for _ in range(2)
        ]
        assert contexts == [{"lambda": {"user": "alice", "token": token}}] * 2
        assert len(auth_calls(stack, token)) == 1

    def test_reauthorize_every_0_invokes_every_time(self, stack: LocalStack) -> None:
        token = bearer("good")
        for _ in range(3):
            assert request(stack, "GET", "/nocache?tenant=t", [("Authorization", token)])[0] == 200
        assert len(auth_calls(stack, token)) == 3

    def test_iam_policy_response_is_evaluated_against_the_route_arn(self, stack: LocalStack) -> None:
        token = bearer("any")
        status, event = request(stack, "GET", "/policy/public", [("Authorization", token)])
        assert status == 200
        assert event["requestContext"]["authorizer"] == {"lambda": {"user": "alice", "via": "policy"}}
        # The cached policy, evaluated for another route ARN: the explicit Deny wins over the Allow.
        assert request(stack, "GET", "/policy/secret", [("Authorization", token)]) == (403, {"message": "Forbidden"})
        assert len(auth_calls(stack, token)) == 1

    def test_routes_without_an_authorizer_are_unaffected(self, stack: LocalStack) -> None:
        before = len(auth_calls(stack))
        status, event = request(stack, "GET", "/open/x%20y")
        assert status == 200
        assert "authorizer" not in event["requestContext"]
        assert event["pathParameters"] == {"name": "x y"}
        status, event = request(stack, "GET", "/iam")
        assert status == 200
        assert event["requestContext"]["authorizer"]["iam"]["userArn"] == "arn:aws:iam::123456789012:user/local"
        assert len(auth_calls(stack)) == before


# ------------------------------------------------------------------ the template's authorizers


def _load(tmp_path: Path, template: dict[str, Any]) -> tpl.Template:
    (tmp_path / "template.json").write_text(json.dumps(template))
    return tpl.load(tmp_path / "template.json")


def _routes(template: tpl.Template) -> dict[str, tpl.Route]:
    return {route.route_key: route for route, _ in template.routes}


def test_repo_template_merger_routes_use_the_usersig_authorizer() -> None:
    routes = _routes(tpl.load(ROOT / "template.yaml"))
    expected = tpl.LambdaAuthorizer(
        api="HttpApi",
        name="UserSigAuthorizer",
        function_id="MergerAuthorizerFunction",
        identity_sources=("$request.header.Authorization",),
        ttl=60,
        payload_version="2.0",
        simple_responses=True,
    )
    assert routes["POST /mergers"].lambda_authorizer == expected
    assert routes["GET /mergers/{downloadKey}"].lambda_authorizer == expected
    assert routes["POST /tim/callback"].authorizer is None


def test_default_authorizer_none_globals_and_default_ttl(tmp_path: Path) -> None:
    template = copy.deepcopy(TEMPLATE)
    api_auth = template["Resources"]["Api"]["Properties"]["Auth"]
    api_auth["DefaultAuthorizer"] = "TokenAuthorizer"
    # Globals' authorizers are merged into the API's, as SAM does.
    template["Globals"]["HttpApi"] = {
        "Auth": {"Authorizers": {"GlobalAuthorizer": _authorizer({"Headers": ["X-Key"]})}}
    }
    events = template["Resources"]["WebFunction"]["Properties"]["Events"]
    events["Open"]["Properties"]["Auth"] = {"Authorizer": "NONE"}
    events["Global"] = _route("GET", "/global", "GlobalAuthorizer")
    events["Plain"] = _route("GET", "/plain")
    routes = _routes(_load(tmp_path, template))
    assert routes["GET /open/{name}"].authorizer is None
    assert routes["GET /plain"].authorizer == "TokenAuthorizer"
    assert routes["GET /iam"].authorizer == "AWS_IAM" and routes["GET /iam"].lambda_authorizer is None
    policy = routes["GET /policy/{name}"].lambda_authorizer
    assert policy is not None and (policy.ttl, policy.simple_responses) == (300, False)
    global_ = routes["GET /global"].lambda_authorizer
    assert global_ is not None and global_.identity_sources == ("$request.header.X-Key",)
    nocache = routes["GET /nocache"].lambda_authorizer
    assert nocache is not None and nocache.ttl == 0
    assert nocache.identity_sources == ("$request.header.Authorization", "$request.querystring.tenant")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda auth: auth.update(AuthorizerPayloadFormatVersion="1.0"),
            "payload format 1.0 Lambda authorizers are not emulated locally",
        ),
        (
            lambda auth: auth.update(FunctionArn="arn:aws:lambda:us-east-1:123456789012:function:elsewhere"),
            "FunctionArn is !GetAtt <Function>.Arn",
        ),
    ],
    ids=["payload-1.0", "external-function"],
)
def test_authorizers_the_local_stack_cannot_run_fail_clearly(tmp_path: Path, change: Any, message: str) -> None:
    template = copy.deepcopy(TEMPLATE)
    change(template["Resources"]["Api"]["Properties"]["Auth"]["Authorizers"]["TokenAuthorizer"])
    with pytest.raises(ValueError, match="POST /mergers on Api: authorizer TokenAuthorizer") as info:
        _load(tmp_path, template)
    assert message in str(info.value)


def test_jwt_authorizer_fails_clearly(tmp_path: Path) -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Api"]["Properties"]["Auth"]["Authorizers"]["TokenAuthorizer"] = {
        "JwtConfiguration": {"issuer": "https://issuer.example", "audience": ["app"]},
        "IdentitySource": "$request.header.Authorization",
    }
    with pytest.raises(ValueError, match="JWT authorizers are not emulated"):
        _load(tmp_path, template)
