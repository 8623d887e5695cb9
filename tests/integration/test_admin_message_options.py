"""POST /admin/messages with the Web SDK's message options: each reaches Tencent as the REST field
docs/protocol.md §5.10 names, checked in the emulator's log of the request it received; options Tencent
offers for one kind of send only are a 422 naming them for the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from local.tim_emulator import Identity, Seed, Settings, TimEmulator
from local.tim_emulator.core import SeedGroup
from tests.integration.admin_harness import APP, BOT, KEY, call

GROUP = "@TGS#options"
TEXT = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello"}}]


@pytest.fixture(scope="module")
def emulator() -> Iterator[TimEmulator]:
    seed = Seed(
        accounts=("alice", "bob", "carol"),
        robots=(BOT,),
        groups=(SeedGroup(GROUP, "Options", "Work", "alice", ("alice", "bob", "carol")),),
    )
    with TimEmulator(Identity(APP, KEY), Settings(), port=0, seed=seed) as running:
        yield running


def _send(api: ModuleType, request: dict[str, Any]) -> tuple[int, Any]:
    return call(api, "POST", "/admin/messages", json.dumps({"msgBody": TEXT, **request}).encode())


def _last(emulator: TimEmulator, api_name: str) -> dict[str, Any]:
    return [c for c in emulator.service.read("calls") if c["api"] == api_name][-1]["request"]


SENDMSG, BATCH, GROUP_SEND = "openim/sendmsg", "openim/batchsendmsg", "group_open_http_svc/send_group_msg"


def test_the_call_log_names_apis_as_these_tests_read_them(api: ModuleType, emulator: TimEmulator) -> None:
    status, _ = _send(api, {"toUser": "bob"})
    assert status == 200
    assert {c["api"] for c in emulator.service.read("calls")} >= {SENDMSG}


def test_receiver_list_is_the_group_sends_to_account(api: ModuleType, emulator: TimEmulator) -> None:
    status, answer = _send(api, {"toGroup": GROUP, "options": {"receiverList": ["bob", "carol"]}})
    assert status == 200 and answer["sent"] == 1, answer
    assert _last(emulator, GROUP_SEND)["To_Account"] == ["bob", "carol"]


@pytest.mark.parametrize(
    ("destination", "api_name", "field"),
    [
        ({"toUser": "bob"}, SENDMSG, "IsNeedReadReceipt"),
        ({"toUsers": ["bob", "carol"]}, BATCH, "IsNeedReadReceipt"),
        ({"toGroup": GROUP}, GROUP_SEND, "NeedReadReceipt"),
    ],
)
def test_need_read_receipt_is_the_field_each_api_names(
    api: ModuleType, emulator: TimEmulator, destination: dict[str, Any], api_name: str, field: str
) -> None:
    status, answer = _send(api, {**destination, "options": {"needReadReceipt": True}})
    assert status == 200 and answer["failed"] == 0, answer
    request = _last(emulator, api_name)
    assert request[field] == 1
    assert {"IsNeedReadReceipt", "NeedReadReceipt"} - {field} & set(request) == set()


@pytest.mark.parametrize(("destination", "api_name"), [({"toUser": "bob"}, SENDMSG), ({"toGroup": GROUP}, GROUP_SEND)])
def test_support_extension_is_support_message_extension(
    api: ModuleType, emulator: TimEmulator, destination: dict[str, Any], api_name: str
) -> None:
    status, _ = _send(api, {**destination, "options": {"supportExtension": True}})
    assert status == 200
    assert _last(emulator, api_name)["SupportMessageExtension"] == 1


@pytest.mark.parametrize(
    ("destination", "api_name"),
    [({"toUser": "bob"}, SENDMSG), ({"toUsers": ["bob"]}, BATCH), ({"toGroup": GROUP}, GROUP_SEND)],
)
def test_exclusion_from_moderation_is_send_msg_control_no_msg_check(
    api: ModuleType, emulator: TimEmulator, destination: dict[str, Any], api_name: str
) -> None:
    options = {"excludedFromContentModeration": True, "noUnread": True}
    status, answer = _send(api, {**destination, "options": options})
    assert status == 200 and answer["failed"] == 0, answer
    assert _last(emulator, api_name)["SendMsgControl"] == ["NoUnread", "NoMsgCheck"]


def test_options_left_out_send_no_field(api: ModuleType, emulator: TimEmulator) -> None:
    assert _send(api, {"toGroup": GROUP})[0] == 200
    request = _last(emulator, GROUP_SEND)
    assert not {"To_Account", "NeedReadReceipt", "SupportMessageExtension", "OfflinePushInfo", "SendMsgControl"} & set(
        request
    )


PUSH = {
    "PushFlag": 0,
    "Title": "Maintenance",
    "Desc": "at 22:00",
    "Ext": '{"k":"v"}',
    "AndroidInfo": {
        "Sound": "ding",
        "HuaWeiChannelID": "hw",
        "XiaoMiChannelID": "mi",
        "OPPOChannelID": "oppo",
        "GoogleChannelID": "fcm",
        "VIVOClassification": 0,
        "HuaWeiImportance": "LOW",
        "ExtAsHuaweiIntentParam": 1,
        "HuaWeiCategory": "IM",
    },
    "ApnsInfo": {
        "Sound": "a.mp3",
        "BadgeMode": 1,
        "Title": "t",
        "SubTitle": "s",
        "Image": "https://x/i.png",
        "MutableContent": 1,
    },
}


@pytest.mark.parametrize(
    ("destination", "api_name"),
    [({"toUser": "bob"}, SENDMSG), ({"toUsers": ["bob"]}, BATCH), ({"toGroup": GROUP}, GROUP_SEND)],
)
def test_offline_push_details_reach_tencent_as_given(
    api: ModuleType, emulator: TimEmulator, destination: dict[str, Any], api_name: str
) -> None:
    status, answer = _send(api, {**destination, "options": {"offlinePush": PUSH}})
    assert status == 200 and answer["failed"] == 0, answer
    assert _last(emulator, api_name)["OfflinePushInfo"] == PUSH


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        ({"toUser": "bob", "options": {"receiverList": ["carol"]}}, "receiverList"),
        ({"toUsers": ["bob"], "options": {"receiverList": ["carol"]}}, "receiverList"),
        ({"toUsers": ["bob"], "options": {"supportExtension": True}}, "supportExtension"),
        ({"toGroup": GROUP, "options": {"receiverList": ["bob", "bob"]}}, "receiverList"),
        ({"toGroup": GROUP, "options": {"receiverList": [f"u{i}" for i in range(51)]}}, "receiverList"),
        ({"toGroup": GROUP, "options": {"receiverList": []}}, "receiverList"),
        ({"toGroup": GROUP, "options": {"receiverList": "bob"}}, "receiverList"),
        ({"toGroup": GROUP, "options": {"needReadReceipt": 1}}, "needReadReceipt"),
        (
            {"toGroup": GROUP, "options": {"excludedFromContentModeration": True, "onlineOnly": True}},
            "excludedFromContentModeration",
        ),
        ({"toUser": "bob", "options": {"excludedFromContentModeration": "true"}}, "excludedFromContentModeration"),
        ({"toGroup": GROUP, "options": {"supportExtension": "yes"}}, "supportExtension"),
        ({"toGroup": GROUP, "options": {"offlinePush": {"ApnsInfo": {"BadgeMode": True}}}}, "BadgeMode"),
        ({"toGroup": GROUP, "options": {"offlinePush": {"ApnsInfo": {"BadgeMode": 2}}}}, "BadgeMode"),
        ({"toGroup": GROUP, "options": {"offlinePush": {"ApnsInfo": {"Badge": 1}}}}, "Badge"),
        (
            {"toGroup": GROUP, "options": {"offlinePush": {"AndroidInfo": {"HuaWeiImportance": "HIGH"}}}},
            "HuaWeiImportance",
        ),
        ({"toGroup": GROUP, "options": {"offlinePush": {"AndroidInfo": ["OPPOChannelID"]}}}, "AndroidInfo"),
        ({"toGroup": GROUP, "options": {"offlinePush": {"AndroidInfo": {"OPPOChannelID": 7}}}}, "OPPOChannelID"),
    ],
)
def test_an_option_the_send_cannot_take_is_a_422_naming_it_and_nothing_is_sent(
    api: ModuleType, emulator: TimEmulator, request_: dict[str, Any], named: str
) -> None:
    before = len(emulator.service.read("calls"))
    status, answer = _send(api, request_)
    assert status == 422, answer
    assert named in json.dumps(answer)
    assert len(emulator.service.read("calls")) == before


def test_the_document_states_the_options(api: ModuleType) -> None:
    status, document = call(api, "GET", "/admin/openapi.json")
    assert status == 200
    schemas = document["components"]["schemas"]
    options = schemas["Options"]["properties"]
    assert {
        "receiverList",
        "needReadReceipt",
        "supportExtension",
        "excludedFromContentModeration",
        "offlinePush",
    } <= set(options)
    receivers = next(o for o in options["receiverList"]["anyOf"] if o.get("type") == "array")
    assert (receivers["maxItems"], receivers["minItems"], receivers["uniqueItems"]) == (50, 1, True)
    assert schemas["ApnsPushInfo"]["additionalProperties"] is False
    assert set(schemas["AndroidPushInfo"]["properties"]) >= {
        "HuaWeiChannelID",
        "XiaoMiChannelID",
        "OPPOChannelID",
        "GoogleChannelID",
    }


# ----------------------------------------------------------------------------- schedules (the same as a broadcast's)


def test_a_message_with_a_schedule_is_a_job_listed_with_the_others(api: ModuleType, emulator: TimEmulator) -> None:
    before = len(emulator.service.read("calls"))
    status, job = _send(api, {"toUser": "bob", "schedule": {"at": "2099-01-01T09:00:00", "timezone": "Asia/Shanghai"}})
    assert status == 202, job
    assert (job["kind"], job["state"], job["nextRun"]) == ("message", "scheduled", "2099-01-01T01:00:00Z")
    assert len(emulator.service.read("calls")) == before  # nothing sent now
    status, seen = call(api, "GET", f"/admin/jobs/{job['jobId']}")
    assert status == 200 and seen["kind"] == "message"
    status, listed = call(api, "GET", "/admin/jobs")
    assert job["jobId"] in {j["jobId"] for j in listed["jobs"]}
    assert call(api, "GET", f"/admin/broadcasts/{job['jobId']}")[1]["kind"] == "message"
    status, cancelled = call(api, "POST", f"/admin/jobs/{job['jobId']}/cancel")
    assert (status, cancelled["state"]) == (200, "cancelled")


def test_bot_friends_with_a_schedule_is_a_job(api: ModuleType, emulator: TimEmulator) -> None:
    body = {"userIds": ["alice"], "schedule": {"cron": "cron(0 10 * * ? *)"}}
    before = len(emulator.service.read("calls"))
    status, job = call(api, "POST", f"/admin/bots/{BOT}/friends", json.dumps(body).encode())
    assert status == 202, job
    assert (job["kind"], job["state"]) == ("friends", "scheduled")
    assert len(emulator.service.read("calls")) == before


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        ({"at": "2001-01-01T00:00:00"}, "schedule.at"),
        ({"at": "2099-01-01T00:00:00", "cron": "cron(0 10 * * ? *)"}, "schedule"),
        ({"cron": "0 10 * * *"}, "schedule.cron"),
        ({"at": "2099-01-01T00:00:00", "timezone": "Mars/Olympus"}, "schedule.timezone"),
        ("tomorrow", "schedule"),
    ],
)
def test_a_bad_schedule_is_a_422_naming_it(api: ModuleType, schedule: Any, named: str) -> None:
    status, answer = _send(api, {"toUser": "bob", "schedule": schedule})
    assert status == 422 and named in json.dumps(answer), answer
    status, answer = call(
        api, "POST", f"/admin/bots/{BOT}/friends", json.dumps({"userIds": ["alice"], "schedule": schedule}).encode()
    )
    assert status == 422 and named in json.dumps(answer), answer
