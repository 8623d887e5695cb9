"""Fault injection: transient error codes and HTTP 502 by share (seeded), added latency, requests
that hang past a client's timeout, per API or for all, and whether the request was carried out
before the fault ("after commit"), which is what a client's Random reuse is for."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.emulator.conftest import CallbackServer, Rest, text

ROBOTS = "openim_robot_http_svc/get_all_robots"


def group_msg(random: int) -> dict[str, Any]:
    return {"GroupId": "@TGS#demo", "From_Account": "bob", "Random": random, "MsgBody": text("broadcast")}


def codes_of(rest: Rest, n: int, api: str = ROBOTS) -> list[int]:
    return [rest(api, {})["ErrorCode"] for _ in range(n)]


def test_error_share_is_seeded_and_reproducible(rest: Rest, tim) -> None:
    tim.configure(fault_seed=7, faults=[{"api": "*", "error_share": 0.5, "codes": [20004, 10002, 60018]}])
    first = codes_of(rest, 40)
    assert set(first) == {0, 20004, 10002, 60018}
    assert 8 <= sum(c != 0 for c in first) <= 32
    tim.reset()  # keeps the settings, starts the fault sequence over
    assert codes_of(rest, 40) == first
    faulted = [c for c in tim.calls() if c["fault"]]
    assert {c["fault"]["kind"] for c in faulted} == {"error"}
    assert all(c["ErrorCode"] == c["fault"]["code"] for c in faulted)


def test_faults_can_target_one_api(rest: Rest, tim) -> None:
    tim.configure(faults=[{"api": ROBOTS, "error_share": 1.0, "codes": [20004]}, {"api": "*", "error_share": 0.0}])
    assert codes_of(rest, 3) == [20004] * 3
    assert (
        rest(
            "sns/friend_check", {"From_Account": "alice", "To_Account": ["bob"], "CheckType": "CheckResult_Type_Single"}
        )["ErrorCode"]
        == 0
    )
    tim.configure(faults=[])
    assert codes_of(rest, 1) == [0]


def test_http_502(rest: Rest, tim) -> None:
    tim.configure(faults=[{"error_share": 1.0, "codes": [502]}])
    response = rest.raw(ROBOTS, {})
    assert response.status_code == 502
    assert "ActionStatus" not in response.text
    [call] = tim.calls()
    assert (call["http_status"], call["ErrorCode"], call["fault"]["code"]) == (502, None, 502)


def test_added_latency(rest: Rest, tim) -> None:
    tim.configure(faults=[{"latency_ms": 150}])
    assert rest(ROBOTS, {})["ErrorCode"] == 0
    [call] = tim.calls()
    assert call["latency_ms"] == 150 and call["duration_ms"] >= 150


def test_a_hang_before_commit_times_the_client_out_then_happens_late(rest: Rest, tim) -> None:
    tim.configure(faults=[{"api": "group_open_http_svc/send_group_msg", "hang_share": 1.0, "hang_seconds": 0.5}])
    with pytest.raises(requests.Timeout):
        rest.raw("group_open_http_svc/send_group_msg", group_msg(5), timeout=0.1)
    # Carried out after the hang, although nobody is waiting for the answer any more.
    tim.wait_until(lambda: tim.messages(), what="the late message")
    assert tim.calls()[0]["fault"] == {"kind": "hang", "code": None, "after_commit": False}


def test_a_hang_after_commit_has_stored_the_message(rest: Rest, tim) -> None:
    tim.configure(faults=[{"hang_share": 1.0, "hang_seconds": 30, "fault_after_commit": 1.0}])
    with pytest.raises(requests.Timeout):
        rest.raw("group_open_http_svc/send_group_msg", group_msg(5), timeout=0.3)
    [message] = tim.messages()
    assert message["Random"] == 5


def test_an_error_before_commit_changes_nothing(rest: Rest, tim) -> None:
    tim.configure(faults=[{"error_share": 1.0, "codes": [10002], "fault_after_commit": 0.0}])
    assert rest("group_open_http_svc/send_group_msg", group_msg(5))["ErrorCode"] == 10002
    assert tim.messages() == []


def test_an_error_after_commit_stored_the_message_and_fires_its_callbacks(
    rest: Rest, tim, callbacks: CallbackServer
) -> None:
    tim.configure(faults=[{"error_share": 1.0, "codes": [20004], "fault_after_commit": 1.0}])
    assert rest("group_open_http_svc/send_group_msg", group_msg(5))["ErrorCode"] == 20004
    assert len(tim.messages()) == 1
    tim.wait_idle()
    assert callbacks.commands() == ["Group.CallbackBeforeSendMsg", "Group.CallbackAfterSendMsg"]


def test_retrying_with_the_same_random_after_a_lost_answer_sends_once(rest: Rest, tim) -> None:
    tim.configure(
        faults=[
            {"api": "group_open_http_svc/send_group_msg", "error_share": 1.0, "codes": [502], "fault_after_commit": 1.0}
        ]
    )
    assert rest.raw("group_open_http_svc/send_group_msg", group_msg(9)).status_code == 502
    tim.configure(faults=[])
    retry = rest.ok("group_open_http_svc/send_group_msg", group_msg(9))
    assert retry["MsgSeq"] == 1
    assert len(tim.messages()) == 1
    # A retry with a fresh Random is what duplicates a broadcast.
    assert rest.ok("group_open_http_svc/send_group_msg", group_msg(10))["MsgSeq"] == 2


def test_invalid_fault_settings_are_refused(tim) -> None:
    from local.tim_emulator.control import EmulatorControlError

    with pytest.raises(EmulatorControlError, match="faults"):
        tim.configure(faults=[{"error_share": 2}])
    with pytest.raises(EmulatorControlError, match="codes"):
        tim.configure(faults=[{"error_share": 1, "codes": [302]}])
