"""The control API and its Python client, the command line, and a clean stop."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from local.tim_emulator import Identity, TimEmulator
from local.tim_emulator import send as send_cli
from local.tim_emulator.control import EmulatorControl, EmulatorControlError
from tests.emulator.conftest import ACK, APP, KEY, TOKEN, CallbackServer, Rest, text


def test_state_shows_the_seeded_world(tim) -> None:
    state = tim.state()
    assert (state["admin"], state["sdkappid"]) == ("administrator", APP)
    assert state["robots"] == ["@RBT#assistant", "@RBT#helper"]
    assert {a["UserID"] for a in state["accounts"]} >= {"administrator", "alice", "bob", "carol", "dave"}
    [demo] = [g for g in state["groups"] if g["GroupId"] == "@TGS#demo"]
    assert [m["Member_Account"] for m in demo["members"]] == ["alice", "bob", "carol"]
    assert state["friendships"] == [] and state["modifies_in_progress"] == []


def test_reset_keeps_settings_unless_told(rest: Rest, tim) -> None:
    tim.configure(rate_limit_per_second=5, modify_latency_ms=1)
    rest.ok("im_open_login_svc/account_import", {"UserID": "temp"})
    rest.ok("openim/sendmsg", {"To_Account": "bob", "MsgRandom": 1, "MsgBody": text("x")})
    tim.reset()
    assert "temp" not in {a["UserID"] for a in tim.state()["accounts"]}
    assert "alice" in {a["UserID"] for a in tim.state()["accounts"]}  # the seed is put back
    assert (tim.messages(), tim.calls(), tim.dropped(), tim.rejected()) == ([], [], [], [])
    assert tim.config()["rate_limit_per_second"] == 5
    tim.reset(config=True)
    assert (tim.config()["rate_limit_per_second"], tim.config()["modify_latency_ms"]) == (200, 0)
    tim.reset(seed=False)
    assert [a["UserID"] for a in tim.state()["accounts"]] == ["administrator"]


def test_config_never_shows_the_token_and_refuses_unknown_settings(tim, callbacks: CallbackServer) -> None:
    shown = tim.config()
    assert TOKEN not in str(shown) and shown["callback_token"] == f"<set, {len(TOKEN)} characters>"
    with pytest.raises(EmulatorControlError, match="no_such_setting"):
        tim.configure(no_such_setting=1)
    with pytest.raises(EmulatorControlError, match="before_send_failure_policy"):
        tim.configure(before_send_failure_policy="maybe")


def test_clock_offset_moves_the_emulators_time(rest: Rest, tim, clock, callbacks: CallbackServer) -> None:
    tim.configure(clock_offset_s=3600)
    later = int(clock.now()) + 3600
    answer = rest.ok("openim/sendmsg", {"To_Account": "bob", "MsgRandom": 1, "MsgBody": text("x")})
    assert answer["MsgTime"] == later
    assert callbacks.received[0]["query"]["RequestTime"] == str(later)


def test_filters_and_unknown_routes(tim) -> None:
    tim.send_c2c("alice", "bob", "one")
    tim.send_group("alice", "@TGS#demo", "two")
    assert [m["kind"] for m in tim.messages(kind="group")] == ["group"]
    assert tim.messages(From_Account="nobody") == []
    with pytest.raises(EmulatorControlError, match="404"):
        tim._request("GET", "nothing-here")
    response = requests.post(f"{tim.base_url}/_emulator/users/alice/send_c2c", data=b"not json", timeout=5)
    assert response.status_code == 400
    assert requests.get(f"{tim.base_url}/elsewhere", timeout=5).status_code == 404


def test_the_command_line_shows_the_round_trip(tim, callbacks: CallbackServer, capsys) -> None:
    callbacks.answer = lambda command, body: (
        {**ACK, "MsgBody": text("well **** it")} if command.endswith("BeforeSendMsg") else ACK
    )
    assert send_cli.main(["c2c", "alice", "bob", "well darn it", "--url", tim.base_url]) == 0
    out = capsys.readouterr().out
    assert "rewritten" in out and '"well darn it"' in out and '"well **** it"' in out
    assert "C2C.CallbackBeforeSendMsg" in out and "C2C.CallbackAfterSendMsg" in out
    assert send_cli.main(["group", "alice", "@TGS#demo", "hi", "--at", "@RBT#assistant", "--url", tim.base_url]) == 0
    assert "Bot.OnGroupMessage" in capsys.readouterr().out


def test_the_command_line_says_when_there_is_no_emulator(capsys) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert send_cli.main(["c2c", "alice", "bob", "x", "--url", f"http://127.0.0.1:{port}"]) == 1
    assert "could not talk to the emulator" in capsys.readouterr().err


def test_stop_closes_the_port_and_ends_its_threads() -> None:
    before = set(threading.enumerate())
    emulator = TimEmulator(Identity(APP, KEY), port=0).start()
    idle = EmulatorControl(emulator.url)
    idle.state()  # leaves an idle keep-alive connection open
    emulator.stop()
    idle.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emulator.url}/_emulator/state", timeout=2)
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []
