"""Generated and mutated callbacks through the callback function's handler: every answer is a
valid Tencent answer or a 4xx naming the problem, never an exception or a 5xx; and whatever is
acknowledged and queued, the event processor can parse and archive (it would otherwise retry it
into the dead-letter queue)."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.handlers import load_handler
from tests.property.json_mutations import json_values, mutate
from tests.unit.conftest import CALLBACK_SETTINGS, PAYLOADS, MemoryStore
from timkit.archive import Archiver
from timkit.callback import CallbackService
from timkit.config import CallbackSettings
from timkit.merger import MergerService
from timkit.models.callbacks import ANSWER_MODELS, BEFORE_SEND_COMMANDS, CallbackAck, Command, parse_callback
from timkit.policy import Policy
from timkit.stores.config import CallbackSecret
from timkit.tim.callback_auth import callback_sign

APP_ID = 1400000001
TOKEN = "fuzz-token-value"
NOW = 1_730_000_000
CONTEXT = SimpleNamespace(
    function_name="tim-callback",
    memory_limit_in_mb=512,
    aws_request_id="fuzz",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-callback",
)

POLICY = Policy.from_json(
    json.dumps(
        {
            "blocked_words": ["badword"],
            "masked_words": ["darn"],
            "allowed_elements": {"group": ["TIMTextElem", "TIMCustomElem", "TIMFaceElem"]},
            "max_body_bytes": 4000,
        }
    )
)

C2C = {
    "CallbackCommand": "C2C.CallbackBeforeSendMsg",
    "From_Account": "u1",
    "To_Account": "@RBT#bot",
    "MsgSeq": 1,
    "MsgRandom": 2,
    "MsgTime": NOW,
    "MsgKey": "1_2_1730000000",
    "OnlineOnlyFlag": 0,
    "MsgBody": [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello darn"}},
        {"MsgType": "TIMCustomElem", "MsgContent": {"Data": '{"chatbotPlugin":2,"src":22,"msgKey":"1_2_3"}'}},
        {
            "MsgType": "TIMRelayElem",
            "MsgContent": {
                "Title": "t",
                "MsgNum": 1,
                "MsgList": [
                    {"From_Account": "a", "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]}
                ],
            },
        },
    ],
    "CloudCustomData": "",
}
GROUP = {
    "CallbackCommand": "Group.CallbackBeforeSendMsg",
    "GroupId": "@TGS#1",
    "Type": "Public",
    "From_Account": "u1",
    "Operator_Account": "u1",
    "Random": 7,
    "OnlineOnlyFlag": 0,
    "MsgBody": [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "badword here"}},
        {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "x", "ImageFormat": 1, "ImageInfoArray": []}},
    ],
    "EventTime": "1670574414123",
}
AFTER = dict(C2C, CallbackCommand="C2C.CallbackAfterSendMsg", SendMsgResult=0, ErrorInfo="", UnreadMsgNum=1)


def _deep_merger(levels: int) -> list[dict]:
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "badword"}}]
    for _ in range(levels):
        body = [
            {
                "MsgType": "TIMRelayElem",
                "MsgContent": {"Title": "t", "MsgNum": 1, "MsgList": [{"From_Account": "a", "MsgBody": body}]},
            }
        ]
    return body


# Deeper than pydantic-core's JSON parser goes (about 40 levels), as Tencent may send.
DEEP = dict(C2C, To_Account="u2", MsgBody=_deep_merger(45))
DEEP_AFTER = dict(AFTER, MsgBody=_deep_merger(45))
SEEDS = [C2C, GROUP, AFTER, DEEP, DEEP_AFTER, *PAYLOADS.values()]


class Fakes:
    def __init__(self) -> None:
        self.queued: list[tuple[str, str]] = []
        self.interrupts: list[tuple[str, ...]] = []

    def secret(self, timeout: float = 1.0) -> CallbackSecret:
        return CallbackSecret(callback_token=TOKEN)

    def policy(self, timeout: float = 1.0) -> Policy:
        return POLICY

    def put(self, command: str, raw: str, received_at: int, timeout: float = 2.0) -> str:
        self.queued.append((command, raw))
        return "id"

    def record(self, *args, **kwargs) -> None:
        self.interrupts.append(args)


class MergerStoreFake:
    """The merger store for MergerService.capture: nothing stored before, nothing kept."""

    def meta(self, key: str) -> None:
        return None

    def put(self, meta: object, document_json: bytes) -> None:
        json.loads(document_json)


@pytest.fixture(scope="module")
def handler(monkeypatch_module):
    for name, value in CALLBACK_SETTINGS.items():
        monkeypatch_module.setenv(name, str(value))
    monkeypatch_module.setenv("POWERTOOLS_SERVICE_NAME", "tim-callback")
    monkeypatch_module.setenv("POWERTOOLS_METRICS_NAMESPACE", "TimKit")
    with load_handler("tim_callback", "fuzz_tim_callback_app") as module:
        fakes = Fakes()
        module.service = CallbackService(
            CallbackSettings(**CALLBACK_SETTINGS), fakes, fakes, fakes, module.logger, wall_clock=lambda: NOW
        )
        module.fakes = fakes
        yield module


def call(module, query: dict[str, str], body: str) -> dict:
    """The handler's answer, after checking that what it queued the event processor can process."""
    module.fakes.queued.clear()
    response = module.lambda_handler(event(query, body), CONTEXT)
    for command, raw in module.fakes.queued:
        message = parse_callback(command, raw)
        captured = MergerService(MergerStoreFake(), 30, clock=lambda: NOW).capture(
            message, lambda: b"fuzz-capture-secret"
        )
        Archiver(MemoryStore(), clock=lambda: NOW).archive(message, raw, captured)
    return response


@st.composite
def mutated(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    return mutate(draw, doc, draw(st.integers(0, 3)), cut_one_in=10)


commands = st.sampled_from([c.value for c in Command]) | st.text(max_size=30)


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    request_time = draw(st.sampled_from([NOW, NOW - 59, NOW + 59, NOW - 61, NOW + 3600]))
    query = {
        "SdkAppid": draw(st.sampled_from([str(APP_ID), "1400000002", "abc", ""])),
        "CallbackCommand": draw(commands),
        "contenttype": "json",
        "OptPlatform": draw(st.sampled_from(["iOS", "IOS", "Web", "RESTAPI", "macOS", "x"])),
        "RequestTime": draw(st.sampled_from([str(request_time), "", "12.5", "nan", "１２３"])),
        "Sign": draw(st.sampled_from([callback_sign(TOKEN, request_time), "00" * 32, "", "Ω"])),
    }
    for key in draw(st.lists(st.sampled_from(list(query)), max_size=2)):
        query.pop(key, None)
    return query


def check(response: dict, query: dict[str, str]) -> None:
    assert response["statusCode"] in (200, 400, 401, 403), response
    body = json.loads(response["body"])
    assert TOKEN not in response["body"]
    if response["statusCode"] != 200:
        assert body["message"]
        return
    command = query["CallbackCommand"]
    if command in BEFORE_SEND_COMMANDS:
        kind = "c2c" if command.startswith("C2C.") else "group"
        ANSWER_MODELS[kind].model_validate(body)
    else:
        assert CallbackAck.model_validate(body) == CallbackAck()


def event(query: dict[str, str], body: str) -> dict:
    return {
        "version": "2.0",
        "routeKey": "POST /tim/callback",
        "rawPath": "/tim/callback",
        "queryStringParameters": query,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": "POST", "path": "/tim/callback"}},
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries(), body=mutated())
def test_mutated_callbacks_get_valid_answers(handler, query, body, capsys) -> None:
    check(call(handler, query, body), query)
    assert TOKEN not in capsys.readouterr().out


@settings(max_examples=150, deadline=None)
@given(body=st.text(max_size=200) | json_values.map(json.dumps), command=commands)
def test_arbitrary_bodies_with_valid_auth(handler, body, command) -> None:
    query = {
        "SdkAppid": str(APP_ID),
        "CallbackCommand": command,
        "RequestTime": str(NOW),
        "Sign": callback_sign(TOKEN, NOW),
    }
    check(call(handler, query, body), query)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_signed_mutated_bodies_for_their_own_command(handler, seed, data, capsys) -> None:
    # Signed and sent to the command the body was made for, so that every mutation reaches
    # validation (and the policy, or the queue) rather than stopping at authentication.
    body = mutate(data.draw, copy.deepcopy(seed), data.draw(st.integers(1, 4)), cut_one_in=20)
    query = {
        "SdkAppid": str(APP_ID),
        "CallbackCommand": seed["CallbackCommand"],
        "RequestTime": str(NOW),
        "Sign": callback_sign(TOKEN, NOW),
    }
    check(call(handler, query, body), query)
    # The failure policy answers validly when the policy itself breaks: that must not hide a crash.
    assert "before-send policy failed" not in capsys.readouterr().out


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s["CallbackCommand"])
def test_seeds_are_answered_as_tencent_expects(handler, seed) -> None:
    query = {
        "SdkAppid": str(APP_ID),
        "CallbackCommand": seed["CallbackCommand"],
        "RequestTime": str(NOW),
        "Sign": callback_sign(TOKEN, NOW),
    }
    response = call(handler, query, json.dumps(seed))
    body = json.loads(response["body"])
    expected = {
        id(C2C): 0,  # an interrupt to a bot is recorded and allowed
        id(GROUP): 10100,  # the image is not allowed in groups
        id(DEEP): 120001,  # the blocked word at the bottom of the merger
    }.get(id(seed), 0)
    assert response["statusCode"] == 200 and body["ErrorCode"] == expected, body
