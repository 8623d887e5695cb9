"""answer_turn with a fake clock, a scripted model and a fake REST client: the pacing (never two
updates of a message within a second, the last one within 1.2 s of the model's end), the answer
exactly the model's deltas joined, the interrupt (checked at least every 0.5 s and before every
update; the final update within a second of it being seen), the time limit, the model's and
Tencent's failures ending in one safe error message, and no exception escaping."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import pytest

from tests.unit.chatbot_fakes import (
    C2C_TURN,
    GROUP_TURN,
    START,
    Call,
    Clock,
    FakeRest,
    FakeStream,
    Interrupts,
    Provider,
    ScriptedFeed,
    Settings,
    ended,
    history,
    tokens,
)
from timkit.chatbot.providers import ChatMessage, Generation, ProviderError
from timkit.chatbot.stream import MIN_UPDATE_INTERVAL
from timkit.chatbot.turn import (
    DELIVERY_FAILED_TEXT,
    EMPTY_ANSWER_TEXT,
    END,
    INTERRUPT_POLL_SECONDS,
    ThreadedFeed,
    TurnResult,
    answer_turn,
)
from timkit.models.chatbot import Turn
from timkit.tim.errors import TimApiError

ANSWER = 'Hello there! Here is a "quoted" line,\nand a second one: 你好 🌍. ' * 6


@dataclass
class Ran:
    result: TurnResult
    rest: FakeRest
    interrupts: Interrupts
    feed: ScriptedFeed | None
    provider: Provider
    events: list[tuple[str, dict[str, Any]]]

    def versions(self) -> list[list[Call]]:
        return self.rest.messages()

    def shown(self) -> str:
        """What a client shows once everything arrived: each message's last version joined."""
        return "".join("".join(calls[-1].payload["chunks"]) for calls in self.versions())

    def last_call(self) -> Call:
        return self.rest.calls[-1]


def run(
    script: list[tuple[float, Any]],
    *,
    settings: Settings | None = None,
    turn: Turn = C2C_TURN,
    interrupt_at: float | None = None,
    rest: FakeRest | None = None,
    clock: Clock | None = None,
    provider: Provider | None = None,
) -> Ran:
    clock = clock or (rest.clock if rest else Clock())
    rest = rest or FakeRest(clock)
    interrupts = Interrupts(clock, at=interrupt_at)
    provider = provider or Provider()
    feeds: list[ScriptedFeed] = []
    events: list[tuple[str, dict[str, Any]]] = []

    def feed(stream: Any) -> ScriptedFeed:
        assert stream is provider.opened
        feeds.append(ScriptedFeed(clock, script))
        return feeds[-1]

    result = answer_turn(
        turn,
        settings or Settings(),
        history(),
        provider,
        rest,
        interrupts,
        clock=clock,
        sleep=clock.sleep,
        feed=feed,
        on_event=lambda name, fields: events.append((name, fields)),
    )
    return Ran(result, rest, interrupts, feeds[0] if feeds else None, provider, events)


def t(seconds: float) -> float:
    return START + seconds


def random_script(rng: random.Random, text: str) -> list[tuple[float, Any]]:
    """Deltas of 1-12 characters, bursts and pauses of up to 3 s between them."""
    script, at, i = [], t(rng.uniform(0, 2)), 0
    while i < len(text):
        size = rng.randint(1, 12)
        script.append((at, text[i : i + size]))
        i += size
        at += rng.choice([0.0, 0.01, 0.05, 0.2, 0.6, 1.3, 3.0])
    return script


def assert_paced(ran: Ran, model_end: float | None) -> None:
    for calls in ran.versions():
        for before, after in zip(calls, calls[1:], strict=False):
            assert after.time - before.time >= MIN_UPDATE_INTERVAL - 1e-9, (before.time, after.time)
            # chunks are cumulative: a version only adds to the one before.
            assert after.payload["chunks"][: len(before.payload["chunks"])] == before.payload["chunks"]
        finished = [c.payload["isFinished"] for c in calls]
        assert finished == [0] * (len(calls) - 1) + [1]
    if model_end is not None:
        assert ran.last_call().time - model_end <= 1.2


# ---------------------------------------------------------------------- pacing and the answer


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("latency", [0.0, 0.08])
def test_updates_are_paced_and_the_answer_is_the_models_text(seed: int, latency: float) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(["a", "b", " ", '"', "\\", "\n", "é", "🌍", "表"]) for _ in range(rng.randint(1, 600)))
    script = random_script(rng, text)
    end = script[-1][0] + rng.choice([0.0, 0.01, 0.4, 0.99, 2.5])
    clock = Clock()
    ran = run([*script, (end, END)], rest=FakeRest(clock, latency=latency))
    assert ran.result.outcome == "finished" and ran.result.failure_kind is None
    assert ran.result.answer == text
    assert ran.shown() == text
    assert_paced(ran, end)
    assert ran.result.final_lag_s is not None and ran.result.final_lag_s <= 1.2
    assert ran.result.messages == len(ran.versions()) and ran.result.modifications == sum(
        len(calls) - 1 for calls in ran.versions()
    )


def test_the_first_message_goes_out_with_the_first_content() -> None:
    ran = run(ended(tokens(ANSWER, t(0.3), 0.05), after=0.5))
    [calls] = ran.versions()
    assert calls[0].time == t(0.3)
    assert calls[0].payload["chunks"] == [ANSWER[:4]]
    assert ran.result.first_send_s == pytest.approx(0.3)


def test_an_answer_complete_before_the_first_send_is_one_finished_message() -> None:
    ran = run([(t(0.2), "Hel"), (t(0.2), "lo"), (t(0.2), END)])
    [[only]] = ran.versions()
    assert only.api == "sendmsg"
    assert only.payload == {"chatbotPlugin": 2, "src": 2, "chunks": ["Hello"], "isFinished": 1}
    assert ran.result.modifications == 0 and ran.result.answer == "Hello"
    assert ran.result.final_lag_s == 0.0


def test_deltas_between_updates_are_coalesced_into_one_chunk() -> None:
    ran = run([(t(0), "a"), (t(0.1), "b"), (t(0.2), "c"), (t(0.9), "d"), (t(1.5), END)])
    [calls] = ran.versions()
    assert [c.payload["chunks"] for c in calls] == [["a"], ["a", "bcd"], ["a", "bcd"]]
    assert [c.time for c in calls] == [t(0), t(1.0), t(2.0)]
    assert ran.result.final_lag_s == pytest.approx(0.5)


def test_the_model_and_its_context() -> None:
    settings = Settings(
        system_prompt="You are terse.", model="m-1", temperature=0.2, max_tokens=77, max_answer_seconds=30
    )
    ran = run(ended([(t(0), "ok")]), settings=settings)
    [asked] = ran.provider.asked
    assert asked == Generation(
        system="You are terse.",
        messages=[*history(), ChatMessage(role="user", content=C2C_TURN.text)],
        model="m-1",
        temperature=0.2,
        max_tokens=77,
        timeout=30.0,
    )
    assert ran.feed is not None and ran.feed.closed_at is not None  # the stream is always closed


# ---------------------------------------------------------------------- payloads (docs/protocol.md §8.3)


def test_c2c_payloads_field_by_field() -> None:
    ran = run([(t(0), "Hel"), (t(0.5), "lo"), (t(1.7), END)])
    first, modify, final = ran.rest.calls
    assert first.api == "sendmsg"
    assert set(first.body) == {"From_Account", "To_Account", "MsgRandom", "SyncOtherMachine", "MsgBody"}
    assert (first.body["From_Account"], first.body["To_Account"], first.body["SyncOtherMachine"]) == (
        "@RBT#assistant",
        "alice",
        2,
    )
    assert 0 <= first.body["MsgRandom"] <= 0xFFFFFFFF
    assert first.body["MsgBody"] == [
        {
            "MsgType": "TIMCustomElem",
            "MsgContent": {
                "Data": json.dumps(
                    {"chatbotPlugin": 2, "src": 2, "chunks": ["Hel"], "isFinished": 0}, separators=(",", ":")
                )
            },
        }
    ]
    key = first.handle
    assert ran.result.msg_keys == (key,)
    for call, chunks, finished in ((modify, ["Hel", "lo"], 0), (final, ["Hel", "lo"], 1)):
        assert call.api == "modify_c2c_msg"
        assert set(call.body) == {"From_Account", "To_Account", "MsgKey", "MsgBody"}
        assert (call.body["From_Account"], call.body["To_Account"], call.body["MsgKey"]) == (
            "@RBT#assistant",
            "alice",
            key,
        )
        # The message's own key travels in the payload, for clients that read it from there.
        assert call.payload == {"chatbotPlugin": 2, "src": 2, "chunks": chunks, "isFinished": finished, "msgKey": key}


def test_group_payloads_and_interrupt_keys() -> None:
    turn = GROUP_TURN.model_copy(update={"topic_id": "@TGS#demo@TOPIC#_1"})
    ran = run([(t(0), "Hi"), (t(0.5), "!"), (t(1.0), END)], turn=turn)
    first, final = ran.rest.calls
    assert first.api == "send_group_msg"
    assert set(first.body) == {"GroupId", "From_Account", "Random", "MsgBody", "TopicId"}
    assert (first.body["GroupId"], first.body["From_Account"], first.body["TopicId"]) == (
        "@TGS#demo",
        "@RBT#assistant",
        "@TGS#demo@TOPIC#_1",
    )
    seq = first.handle
    # What a client builds from the message it shows: sequence, random, time (docs/protocol.md §8.3).
    key = f"{seq}_{first.body['Random']}_{int(first.time)}"
    assert ran.result.msg_keys == (key,)
    assert final.api == "modify_group_msg"
    assert final.body == {
        "GroupId": "@TGS#demo",
        "MsgSeq": seq,
        "TopicId": "@TGS#demo@TOPIC#_1",
        "MsgBody": final.body["MsgBody"],
    }
    assert final.payload == {"chatbotPlugin": 2, "src": 2, "chunks": ["Hi", "!"], "isFinished": 1, "msgKey": key}


def test_a_slow_model_gets_the_typing_placeholder_first() -> None:
    ran = run([(t(2.5), "Here"), (t(2.6), " it is"), (t(3.0), END)], settings=Settings(typing_text="Thinking…"))
    [calls] = ran.versions()
    assert [(c.time, c.payload) for c in calls] == [
        (t(1.0), {"chatbotPlugin": 2, "src": 2, "chunks": [], "isFinished": 0, "typingText": "Thinking…"}),
        (t(2.5), {"chatbotPlugin": 2, "src": 2, "chunks": ["Here"], "isFinished": 0, "msgKey": calls[0].handle}),
        (
            t(3.5),
            {"chatbotPlugin": 2, "src": 2, "chunks": ["Here", " it is"], "isFinished": 1, "msgKey": calls[0].handle},
        ),
    ]
    assert ran.result.answer == "Here it is"


def test_a_quick_model_gets_no_placeholder() -> None:
    ran = run(ended([(t(0.4), "Quick")]), settings=Settings(typing_text="Thinking…"))
    assert all("typingText" not in c.payload for c in ran.rest.calls)


# ---------------------------------------------------------------------- roll-over at 11 KB


def body_bytes(call: Call) -> int:
    """What Tencent counts: the UTF-8 of JSON.stringify(MsgBody)."""
    return len(json.dumps(call.body["MsgBody"], ensure_ascii=False, separators=(",", ":")).encode())


def test_a_long_answer_rolls_over_into_new_messages_measured_escaped() -> None:
    # Quotes and backslashes: 1 character of text, 4 bytes of body once Data is escaped twice.
    text = ('say "hi" \\ ' * 4000)[:30_000]
    ran = run(ended(tokens(text, t(0), 0.01, size=50), after=0.3))
    versions = ran.versions()
    assert len(versions) >= 4
    for calls in versions:
        for call in calls:
            assert body_bytes(call) <= 11 * 1024
    for calls in versions[:-1]:
        # Each message is finished, and full (nearly to the limit) before the next begins.
        assert calls[-1].payload["isFinished"] == 1
        assert body_bytes(calls[-1]) > 11 * 1024 - 100
    assert ran.shown() == text and ran.result.answer == text
    assert ran.result.msg_keys == tuple(calls[0].handle for calls in versions)
    assert_paced(ran, None)


def test_an_answer_over_the_limit_before_the_first_send() -> None:
    text = "x" * 25_000
    ran = run([(t(0), text), (t(0), END)])
    versions = ran.versions()
    assert [len(calls) for calls in versions] == [1, 1, 1]  # three sends, no modification
    assert all(calls[0].payload["isFinished"] == 1 for calls in versions)
    assert ran.shown() == text


# ---------------------------------------------------------------------- interrupt


@pytest.mark.parametrize("seed", range(30))
def test_an_interrupt_stops_the_model_and_freezes_what_was_shown(seed: int) -> None:
    rng = random.Random(seed)
    script = tokens(ANSWER * 12, t(rng.uniform(0, 1)), rng.choice([0.02, 0.1, 0.4]))
    interrupt_at = t(rng.uniform(1.0, 12.0))
    ran = run(ended(script), interrupt_at=interrupt_at)
    assert ran.result.outcome == "interrupted"
    seen = ran.interrupts.seen_at
    assert seen is not None and seen - interrupt_at <= INTERRUPT_POLL_SECONDS
    assert ran.feed is not None and ran.feed.closed_at == seen
    versions = ran.versions()
    final = versions[-1][-1]
    assert final.payload["isFinished"] == 1 and final is ran.last_call()
    assert final.time - seen <= 1.0
    if len(versions[-1]) > 1:
        # Nothing new in the final version: the message stays as the user saw it.
        assert versions[-1][-2].payload["chunks"] == final.payload["chunks"]
    assert ran.result.answer == ran.shown()
    assert ANSWER.startswith(ran.result.answer[: len(ANSWER)])


def test_the_interrupt_is_read_every_half_second_and_before_each_update() -> None:
    # Calls that take 0.3 s: the half-second checks and the updates drift apart.
    latency = 0.3
    ran = run(ended(tokens(ANSWER, t(0), 0.05)), interrupt_at=t(6.2), rest=FakeRest(Clock(), latency=latency))
    times = [at for at, keys in ran.interrupts.checks]
    assert all(keys == list(ran.result.msg_keys) for _, keys in ran.interrupts.checks)
    assert times[0] == t(latency)  # as soon as there is a message to interrupt
    assert all(b - a <= INTERRUPT_POLL_SECONDS + 1e-9 for a, b in zip(times, times[1:], strict=False))
    # Every modification starts right after a check (the final one follows the stop).
    starts = [c.time - latency for c in ran.rest.calls if c.api == "modify_c2c_msg"][:-1]
    assert len(starts) >= 3
    assert all(any(abs(start - at) < 1e-9 for at in times) for start in starts)


def test_the_interrupt_is_read_no_more_than_needed() -> None:
    ran = run(ended(tokens(ANSWER * 4, t(0), 0.02)))
    times = [at for at, _ in ran.interrupts.checks]
    assert len(set(times)) == len(times)  # never twice at once (the half-second read and an update's)
    span = times[-1] - times[0]
    assert len(times) <= span / INTERRUPT_POLL_SECONDS + 2


def test_the_interrupt_is_only_read_once_there_is_a_message() -> None:
    ran = run([(t(3), "late"), (t(3.5), "r"), (t(5), END)])
    assert ran.interrupts.checks and ran.interrupts.checks[0][0] == t(3)


def test_a_failing_interrupt_read_does_not_end_the_answer() -> None:
    clock = Clock()
    rest = FakeRest(clock)
    interrupts = Interrupts(clock, fail=True)
    feed = ScriptedFeed(clock, ended(tokens(ANSWER, t(0), 0.1)))
    result = answer_turn(
        C2C_TURN, Settings(), [], Provider(), rest, interrupts, clock=clock, sleep=clock.sleep, feed=lambda stream: feed
    )
    assert result.outcome == "finished" and result.answer == ANSWER and interrupts.checks


# ---------------------------------------------------------------------- the time limit


def test_the_time_limit_ends_a_runaway_answer() -> None:
    ran = run(ended(tokens(ANSWER * 20, t(0), 0.05)), settings=Settings(max_answer_seconds=5))
    assert ran.result.outcome == "timed_out"
    assert ran.feed is not None and ran.feed.closed_at == t(5)
    final = ran.last_call()
    assert final.payload["isFinished"] == 1 and final.time - t(5) <= 1.0
    assert ran.result.answer == ran.shown() and len(ran.result.answer) < len(ANSWER * 20)
    assert ran.result.final_lag_s is None  # the model never ended


def test_the_time_limit_before_the_model_said_anything() -> None:
    ran = run([(t(100), "too late")], settings=Settings(max_answer_seconds=5))
    assert ran.result.outcome == "timed_out" and ran.result.failure_kind == "timeout"
    [error] = ran.rest.calls
    assert error.payload == {
        "chatbotPlugin": 2,
        "src": 23,
        "errorInfo": ProviderError.USER_TEXT["timeout"],
        "isFinished": 1,
    }


# ---------------------------------------------------------------------- failures


SECRET_DETAIL = "HTTP 401 from https://api.example.com body={'key': 'sk-live-123'} Traceback (most recent call last)"


def test_a_model_failing_mid_stream_finishes_the_message_then_sends_the_error() -> None:
    ran = run([(t(0), "Part"), (t(0.3), "ial"), (t(2.5), ", more"), (t(2.6), ProviderError("broken", SECRET_DETAIL))])
    [calls] = ran.versions()
    assert calls[-1].payload["isFinished"] == 1
    assert "".join(calls[-1].payload["chunks"]) == "Partial, more"
    error = ran.last_call()
    assert error.api == "sendmsg" and error.payload == {
        "chatbotPlugin": 2,
        "src": 23,
        "errorInfo": ProviderError.USER_TEXT["broken"],
        "isFinished": 1,
    }
    assert "sk-live" not in json.dumps(error.body) and "Traceback" not in json.dumps(error.body)
    assert (ran.result.outcome, ran.result.failure_kind) == ("failed", "broken")
    assert ran.result.answer == "Partial, more"
    assert ("provider_error", {"kind": "broken"}) in ran.events


@pytest.mark.parametrize("kind", sorted(ProviderError.USER_TEXT))
def test_a_model_that_cannot_start_gets_one_error_message(kind: str) -> None:
    provider = Provider(refuse=ProviderError(kind, SECRET_DETAIL))
    ran = run([], provider=provider)
    [error] = ran.rest.calls
    assert error.payload == {"chatbotPlugin": 2, "src": 23, "errorInfo": ProviderError.USER_TEXT[kind], "isFinished": 1}
    assert "sk-live" not in json.dumps(error.body)
    assert (ran.result.outcome, ran.result.failure_kind, ran.result.messages) == ("failed", kind, 1)


def test_a_provider_raising_something_else_still_gets_the_user_an_error_message() -> None:
    provider = Provider()
    provider.stream = lambda **kwargs: {}["sk-live-123"]
    ran = run([], provider=provider)
    [error] = ran.rest.calls
    assert error.payload["errorInfo"] == ProviderError.USER_TEXT["unavailable"]
    assert (ran.result.outcome, ran.result.failure_kind) == ("failed", "unavailable")


def test_an_empty_answer_is_an_error_message() -> None:
    ran = run([(t(1), END)])
    [error] = ran.rest.calls
    assert error.payload["src"] == 23 and error.payload["errorInfo"] == EMPTY_ANSWER_TEXT
    assert (ran.result.outcome, ran.result.failure_kind) == ("failed", "empty")


@pytest.mark.parametrize("api", ["sendmsg", "modify_c2c_msg"])
def test_tencent_refusing_an_update_ends_the_answer_cleanly(api: str) -> None:
    clock = Clock()
    rest = FakeRest(clock)
    rest.fail[api] = [TimApiError(f"openim/{api}", 20026, "msg not found")]
    ran = run(ended(tokens(ANSWER, t(0), 0.1)), rest=rest)
    assert (ran.result.outcome, ran.result.failure_kind) == ("failed", "tencent")
    assert ran.feed is not None and ran.feed.closed_at is not None
    error = ran.last_call()
    assert error.api == "sendmsg" and error.payload["src"] == 23 and error.payload["errorInfo"] == DELIVERY_FAILED_TEXT
    # Nothing is tried on the failed message again.
    failed_at = next(i for i, c in enumerate(rest.calls) if c.api == api)
    assert [c.payload["src"] for c in rest.calls[failed_at + 1 :]] == [23]


def test_even_the_error_message_failing_raises_nothing() -> None:
    clock = Clock()
    rest = FakeRest(clock)
    rest.fail["sendmsg"] = [TimApiError("openim/sendmsg", 20003, "no such account")] * 2
    ran = run(ended([(t(0), "hi")]), rest=rest)
    assert (ran.result.outcome, ran.result.failure_kind, ran.result.messages) == ("failed", "tencent", 0)


# ---------------------------------------------------------------------- native mode (docs/protocol.md §8.4)


def test_native_mode_streams_deltas_with_the_stream_id() -> None:
    ran = run(
        [(t(0), "Hel"), (t(0.4), "lo"), (t(1.5), " you"), (t(1.6), END)], settings=Settings(streaming_mode="native")
    )
    calls = ran.rest.calls
    assert [c.api for c in calls] == ["send_c2c_stream_msg"] * 3
    first = calls[0]
    assert set(first.body) == {"From_Account", "To_Account", "MsgRandom", "SyncOtherMachine", "MsgBody"}
    assert first.stream == {
        "Chunks": [{"EventType": "data", "Index": 1, "Markdown": "Hel", "IsLast": False}],
        "CompatibleText": "Hel",
    }
    assert calls[1].stream == {
        "Chunks": [{"EventType": "data", "Index": 2, "Markdown": "lo", "IsLast": False}],
        "CompatibleText": "Hello",
        "StreamMsgID": "stream-1",
    }
    assert calls[2].stream == {
        "Chunks": [{"EventType": "data", "Index": 3, "Markdown": " you", "IsLast": True}],
        "CompatibleText": "Hello you",
        "StreamMsgID": "stream-1",
    }
    assert [c.time for c in calls] == [t(0), t(1.0), t(2.0)]
    assert len({c.body["MsgRandom"] for c in calls}) == 3
    assert ran.result.answer == "Hello you" and ran.result.messages == 1 and ran.result.modifications == 2
    assert ran.result.msg_keys and ran.result.msg_keys[0].split("_")[1] == str(first.body["MsgRandom"])


def test_native_mode_keeps_a_silent_stream_alive() -> None:
    ran = run([(t(0), "a"), (t(25), "b"), (t(25.1), END)], settings=Settings(streaming_mode="native"))
    times = [c.time for c in ran.rest.calls]
    assert times[:3] == [t(0), t(10), t(20)]
    chunks = [c.stream["Chunks"][0] for c in ran.rest.calls]
    assert [(c["Markdown"], c["IsLast"]) for c in chunks] == [
        ("a", False),
        ("", False),
        ("", False),
        ("b", False),
        ("", True),
    ]
    assert ran.rest.calls[-1].time == t(26)  # the last chunk waits its turn after "b"
    assert ran.result.answer == "ab"


def test_native_mode_in_a_group_and_a_topic() -> None:
    ran = run(ended([(t(0), "yo")]), settings=Settings(streaming_mode="native"), turn=GROUP_TURN)
    [call] = ran.rest.calls
    assert call.api == "send_group_stream_msg" and set(call.body) == {"GroupId", "From_Account", "Random", "MsgBody"}
    assert ran.result.msg_keys == (f"41_{call.body['Random']}_{int(call.time)}",)
    topic = GROUP_TURN.model_copy(update={"topic_id": "@TGS#demo@TOPIC#_2"})
    ran = run(ended([(t(0), "yo")]), settings=Settings(streaming_mode="native"), turn=topic)
    assert [c.api for c in ran.rest.calls] == ["send_group_msg"]  # the stream APIs know no topics


def test_native_mode_rolls_over() -> None:
    text = '"quoted" ' * 3000
    ran = run(ended(tokens(text, t(0), 0.01, size=100)), settings=Settings(streaming_mode="native"))
    calls = ran.rest.calls
    assert sum(c.stream["Chunks"][0]["IsLast"] for c in calls) >= 2
    for call in calls:
        assert body_bytes(call) <= 11 * 1024
    assert "".join(c.stream["Chunks"][0]["Markdown"] for c in calls) == text == ran.result.answer
    assert sum(c.stream["Chunks"][0]["Index"] == 1 for c in calls) == ran.result.messages


def test_native_mode_errors_are_custom_error_messages() -> None:
    ran = run([(t(0), "a"), (t(0.2), ProviderError("throttled", "429"))], settings=Settings(streaming_mode="native"))
    assert [c.api for c in ran.rest.calls] == ["send_c2c_stream_msg", "send_c2c_stream_msg", "sendmsg"]
    assert ran.rest.calls[1].stream["Chunks"][0]["IsLast"] is True
    assert ran.rest.calls[2].payload["src"] == 23


# ---------------------------------------------------------------------- the real reader thread


class ListStream(FakeStream):
    def __init__(self, items: list[Any]) -> None:
        super().__init__()
        self.items = items

    def __iter__(self):
        for item in self.items:
            if isinstance(item, BaseException):
                raise item
            yield item


@pytest.mark.parametrize(
    ("items", "outcome", "kind"),
    [
        (["Hel", "lo", "", " world"], "finished", None),
        (["Hel", ProviderError("timeout", "read timed out")], "failed", "timeout"),
        (["Hel", KeyError("Bearer sk-live-123")], "failed", "broken"),
    ],
)
def test_the_threaded_feed(items: list[Any], outcome: str, kind: str | None, caplog: pytest.LogCaptureFixture) -> None:
    stream = ListStream(items)
    provider = Provider()
    provider.opened = stream
    rest = FakeRest(Clock())
    result = answer_turn(
        C2C_TURN, Settings(), [], provider, rest, lambda keys: False, sleep=lambda seconds: None, feed=ThreadedFeed
    )
    assert (result.outcome, result.failure_kind) == (outcome, kind)
    assert stream.closed
    assert "sk-live" not in caplog.text  # an unexpected exception is logged by its type only
    if outcome == "finished":
        assert result.answer == "Hello world"


def test_a_failure_before_tencent_is_reached_ends_the_answer_with_the_error_message() -> None:
    # The rate limiter's DynamoDB or the key's secret failing inside the client is no TimError;
    # the answer still ends (never raises), the message is not left unfinished without a word.
    rest = FakeRest(Clock())
    rest.fail["modify_c2c_msg"] = [RuntimeError("An error occurred (ProvisionedThroughputExceededException)")]
    ran = run(ended(tokens("Hello there, this answer grows over a few seconds.", t(0.1), 0.2)), rest=rest)
    assert ran.result.outcome == "failed" and ran.result.failure_kind == "tencent"
    error = [c for c in rest.calls if c.api == "sendmsg" and c.payload["src"] == 23]
    assert len(error) == 1 and "ProvisionedThroughput" not in json.dumps(error[0].body)


def test_an_empty_answer_after_the_typing_placeholder_is_still_the_error_message() -> None:
    ran = run([(t(2.0), END)], settings=Settings(typing_text="Thinking…"))
    assert ran.result.outcome == "failed" and ran.result.failure_kind == "empty"
    assert ran.rest.calls[-1].payload["src"] == 23
