"""The REST envelope (docs/protocol.md §4.1), authentication (§4.2) and the per-API rate limit (§6.1)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlencode

import pytest

from local.http import MAX_BODY
from local.tim_emulator import FakeClock, TimEmulator
from tests.emulator.conftest import ADMIN, APP, KEY, Rest
from timkit.tim.usersig import gen_usersig


def test_success_envelope_is_http_200_with_ok_and_the_api_fields(rest: Rest) -> None:
    response = rest.raw("openim_robot_http_svc/get_all_robots", {})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    answer = response.json()
    assert list(answer)[:3] == ["ActionStatus", "ErrorCode", "ErrorInfo"]
    assert (answer["ActionStatus"], answer["ErrorCode"]) == ("OK", 0)
    assert answer["Robot_Account"] == ["@RBT#assistant", "@RBT#helper"]


def test_errors_are_http_200_with_fail_and_the_code(rest: Rest) -> None:
    response = rest.raw("openim/sendmsg", {"To_Account": "bob", "MsgBody": []})
    assert response.status_code == 200
    answer = response.json()
    assert answer["ActionStatus"] == "FAIL"
    assert answer["ErrorCode"] != 0 and answer["ErrorInfo"]


@pytest.mark.parametrize("api", ["openim/no_such_command", "no_such_service/sendmsg", "sendmsg"])
def test_unknown_api_is_a_url_error(rest: Rest, api: str) -> None:
    assert rest(api, {})["ErrorCode"] == 60002


def test_only_post_is_served(rest: Rest) -> None:
    response = rest.raw("openim_robot_http_svc/get_all_robots", {}, method="GET")
    assert (response.status_code, response.json()["ErrorCode"]) == (200, 60002)


@pytest.mark.parametrize("data", [b"", b"{not json", b"[1, 2]", b'"text"'])
def test_body_must_be_a_json_object(rest: Rest, data: bytes) -> None:
    # docs/protocol.md §4.1: the body is never empty; {} when there is nothing to send.
    assert rest.raw("openim_robot_http_svc/get_all_robots", data=data).json()["ErrorCode"] == 60003


def test_a_chunked_body_is_read_and_the_connection_stays_usable(rest: Rest, emulator: TimEmulator) -> None:
    conn = http.client.HTTPConnection(emulator.url.removeprefix("http://"), timeout=5)
    try:
        target = "/v4/sns/friend_check?" + urlencode(rest.query())
        body = json.dumps({"From_Account": "alice", "To_Account": ["bob"], "CheckType": "CheckResult_Type_Both"})
        halves = [body[:20].encode(), body[20:].encode()]
        conn.request("POST", target, body=iter(halves), headers={"Content-Type": "application/json"})
        chunked = json.loads(conn.getresponse().read())
        assert (chunked["ErrorCode"], chunked["InfoItem"][0]["To_Account"]) == (0, "bob")
        # The chunks were all consumed: the next request on the connection is read as one.
        target = "/v4/openim_robot_http_svc/get_all_robots?" + urlencode(rest.query())
        conn.request("POST", target, body=b"{}", headers={"Content-Type": "application/json"})
        assert json.loads(conn.getresponse().read())["ErrorCode"] == 0
    finally:
        conn.close()


def test_a_body_over_the_limit_is_refused_with_413(rest: Rest, emulator: TimEmulator) -> None:
    conn = http.client.HTTPConnection(emulator.url.removeprefix("http://"), timeout=5)
    try:
        conn.putrequest("POST", "/v4/openim_robot_http_svc/get_all_robots?" + urlencode(rest.query()))
        conn.putheader("Content-Length", str(MAX_BODY + 1))
        conn.endheaders()
        response = conn.getresponse()
        assert (response.status, response.getheader("connection")) == (413, "close")
        assert "error" in json.loads(response.read())
    finally:
        conn.close()


def test_wrong_or_missing_sdkappid(rest: Rest) -> None:
    assert rest("openim_robot_http_svc/get_all_robots", {}, sdkappid=APP + 1)["ErrorCode"] == 60006
    assert rest("openim_robot_http_svc/get_all_robots", {}, sdkappid=None)["ErrorCode"] == 60006


def test_missing_identifier(rest: Rest) -> None:
    assert rest("openim_robot_http_svc/get_all_robots", {}, identifier="", usersig="x")["ErrorCode"] == 60004


def test_empty_usersig(rest: Rest) -> None:
    assert rest("openim_robot_http_svc/get_all_robots", {}, usersig="")["ErrorCode"] == 70002


@pytest.mark.parametrize("usersig", ["not-a-sig", "eJw*", "AAAA"])
def test_malformed_usersig(rest: Rest, usersig: str) -> None:
    assert rest("openim_robot_http_svc/get_all_robots", {}, usersig=usersig)["ErrorCode"] == 70003


def test_expired_usersig(rest: Rest, clock: FakeClock) -> None:
    sig = gen_usersig(APP, KEY, ADMIN, expire=60, now=int(clock.now()))
    assert rest("openim_robot_http_svc/get_all_robots", {}, usersig=sig)["ErrorCode"] == 0
    clock.advance(61)
    assert rest("openim_robot_http_svc/get_all_robots", {}, usersig=sig)["ErrorCode"] == 70001


def test_usersig_made_with_another_key(rest: Rest, clock: FakeClock) -> None:
    sig = gen_usersig(APP, "some-other-key", ADMIN, now=int(clock.now()))
    assert rest("openim_robot_http_svc/get_all_robots", {}, usersig=sig)["ErrorCode"] == 70009


def test_usersig_of_another_identifier(rest: Rest, clock: FakeClock) -> None:
    sig = gen_usersig(APP, KEY, "alice", now=int(clock.now()))
    assert rest("openim_robot_http_svc/get_all_robots", {}, usersig=sig)["ErrorCode"] == 70013


def test_usersig_of_another_app(rest: Rest, clock: FakeClock) -> None:
    sig = gen_usersig(APP + 7, KEY, ADMIN, now=int(clock.now()))
    assert rest("openim_robot_http_svc/get_all_robots", {}, usersig=sig)["ErrorCode"] == 70014


def test_a_valid_sig_of_a_non_admin_is_not_enough(rest: Rest) -> None:
    assert rest("openim_robot_http_svc/get_all_robots", {}, identifier="alice")["ErrorCode"] == 60010


def test_rate_limit_per_api_with_a_sliding_window(rest: Rest, emulator, clock: FakeClock) -> None:
    emulator.configure(rate_limit_per_second=3)
    codes = [rest("openim_robot_http_svc/get_all_robots", {})["ErrorCode"] for _ in range(4)]
    assert codes == [0, 0, 0, 60007]
    # Another API has its own window.
    assert (
        rest(
            "sns/friend_check", {"From_Account": "alice", "To_Account": ["bob"], "CheckType": "CheckResult_Type_Both"}
        )["ErrorCode"]
        == 0
    )
    clock.advance(0.5)
    assert rest("openim_robot_http_svc/get_all_robots", {})["ErrorCode"] == 60007
    clock.advance(0.6)  # the first three calls are more than a second old now
    assert rest("openim_robot_http_svc/get_all_robots", {})["ErrorCode"] == 0


def test_rate_limit_can_differ_per_api(rest: Rest, emulator) -> None:
    # docs/protocol.md §6.1: multi-account import is 100/s by default, everything else 200/s.
    assert emulator.settings().rate_limit("im_open_login_svc/multiaccount_import") == 100
    assert emulator.settings().rate_limit("openim/sendmsg") == 200
    emulator.configure(rate_limits={"openim_robot_http_svc/get_all_robots": 1})
    assert [rest("openim_robot_http_svc/get_all_robots", {})["ErrorCode"] for _ in range(2)] == [0, 60007]


def test_calls_are_recorded_with_their_outcome(rest: Rest, tim, clock: FakeClock) -> None:
    rest("openim_robot_http_svc/get_all_robots", {})
    rest("openim_robot_http_svc/get_all_robots", {}, usersig="")
    calls = tim.calls(api="openim_robot_http_svc/get_all_robots")
    assert [(c["ErrorCode"], c["http_status"], c["fault"]) for c in calls] == [(0, 200, None), (70002, 200, None)]
    assert calls[0]["time"] == clock.now() and calls[0]["identifier"] == ADMIN
    assert calls[0]["random"].isdigit()
    assert tim.calls_per_second("openim_robot_http_svc/get_all_robots") == {int(clock.now()): 2}
