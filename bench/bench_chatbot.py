"""Chatbot streaming through the whole local stack: pacing, final lag, first message, interrupt, and how
many answers one worker process streams at once.

The local stack runs here (moto, the gateway, the functions in worker processes, the SQS pollers, the
Tencent IM emulator and the local OpenAI-compatible model); users write to the demo bot
``@RBT#assistant`` through the emulator's control API, as a chat client would, and the bot answers
with the local model. The emulator keeps every REST call with its arrival time and every version
of a modified message with the time it arrived; the model server keeps each token's time. Both are
in this process, on the same wall clock, and are the measure:

``stream_first_message_ms``: from the user's message reaching the emulator (the send through the
control API starts; the bundle's before-send callback is part of it, as with Tencent) to the
arrival of the bot's first ``sendmsg``, the model's first token immediate, after a warm-up turn
(median of turns asked one after the other; ``_p95_ms`` their p95).
``stream_final_lag_ms``: p95 over those turns of the time from the model's last token to the
arrival of the final modification (``isFinished`` 1; target ≤ 1200). ``stream_modifies_per_s_max``:
the most modifications of one message that arrived within any one second, over every message of
the run (target ≤ 1). ``interrupt_stop_ms``: the slowest, over the interrupted turns, from the
interrupt's callback (the interrupt's send answered: the emulator calls the bundle right after) to
the final modification's arrival (target ≤ 1000); the interrupts land from 0 to 1 s after a
modification's arrival, and one right after it is the slowest (the final modification waits for
that modification's second). ``stream_tokens_after_interrupt``: the most
tokens the model produced after that moment in any of them (target ≤
``stream_interrupt_tokens_per_s``, one second's worth at the slow model's pace).
``streams_per_worker``: the most answers of one worker invocation streaming at the same instant
(between each answer's first send and its final modification) when a batch of
``BENCH_CHATBOT_BATCH`` turns (10, the FIFO queue's and the template's largest batch) from as many
users is handed to one invocation: the stack's chatbot poller is stopped, the turns wait in the
queue, and one receive-and-invoke of the local poller hands them over together (with ten pollers
running, as the template's ChatbotConcurrency makes them, turns arriving together are spread over
several invocations, which is not what this figure asks).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]

from bench.bench_before_send import percentile  # noqa: E402
from local.chat import Answer, bot_messages, chatbot_payload, interrupt, read_answer  # noqa: E402
from local.model_server import expected_answer  # noqa: E402
from local.pollers import SqsPoller  # noqa: E402
from local.stack import DEMO_BOT, DEMO_MODEL, LocalStack  # noqa: E402
from local.tim_emulator import Seed  # noqa: E402
from local.tim_emulator.control import EmulatorControl  # noqa: E402

TURNS = int(os.environ.get("BENCH_CHATBOT_TURNS", "15"))
INTERRUPTS = int(os.environ.get("BENCH_CHATBOT_INTERRUPTS", "6"))
BATCH = int(os.environ.get("BENCH_CHATBOT_BATCH", "10"))
# ~44 tokens: a 2.2 s answer (first message, two or three modifications, the final one).
TOKEN_DELAY_MS = 50
# Interrupted answers stream slowly (~11 s), so that the interrupt lands mid-answer.
SLOW_TOKEN_DELAY_MS = 250
# The batch's answers stream for ~4.4 s each: long enough to overlap, or visibly not.
BATCH_TOKEN_DELAY_MS = 100
WORKER = "ChatbotWorkerFunction"
SENDMSG = "openim/sendmsg"
TIMEOUT_S = 60
POLL_S = 0.05


def wait(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT_S, poll: float = POLL_S) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(poll)
    return value


def finished(tim: EmulatorControl, user: str, after: int, whole: str | None = None) -> Answer | None:
    """The answer once all of it is finished (and, given ``whole``, is all of it)."""
    answer = read_answer(tim, DEMO_BOT, user, None, after)
    if answer.error is not None:
        raise RuntimeError(f"the bot answered {user} with an error: {answer.error}")
    done = bool(answer.finished) and all(answer.finished) and (whole is None or answer.text == whole)
    return answer if done else None


def first_send_at(tim: EmulatorControl, user: str, since: float) -> float:
    """Arrival of the bot's first send to ``user`` after ``since``."""
    return min(
        c["time"]
        for c in tim.calls(api=SENDMSG)
        if c["time"] >= since
        and (c["request"] or {}).get("To_Account") == user
        and c["request"].get("From_Account") == DEMO_BOT
    )


def final_at(message: dict[str, Any]) -> float:
    """Arrival of the version that finished the message (its last modification)."""
    last = message["history"][-1]
    payload = chatbot_payload({"MsgBody": last["MsgBody"]})
    assert payload is not None and payload["isFinished"] == 1, payload
    return float(last["time"])


def modifies_per_s_max(messages: list[dict[str, Any]]) -> int:
    """The most modifications of one message arriving within any one second."""
    most = 0
    for message in messages:
        times = sorted(version["time"] for version in message["history"])
        for i, start in enumerate(times):
            most = max(most, sum(1 for t in times[i:] if t < start + 1.0))
    return most


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans open at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = live = 0
    for _, step in events:
        live += step
        most = max(most, live)
    return most


def model_requests(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.model is not None
    return stack.model.stats(times=True)["requests"]


def ask(stack: LocalStack, tim: EmulatorControl, user: str, question: str) -> dict[str, float]:
    """One turn, alone in the stack: its first-message time and its final lag (ms)."""
    after = len(bot_messages(tim, DEMO_BOT, user, None))
    models_before = len(model_requests(stack))
    sent_at = time.time()
    assert tim.send_c2c(user, DEMO_BOT, question)["ErrorCode"] == 0
    whole = expected_answer(question, DEMO_MODEL)
    wait(lambda: finished(tim, user, after, whole), f"answer to {user}")
    (message,) = bot_messages(tim, DEMO_BOT, user, None)[after:]
    (request,) = model_requests(stack)[models_before:]
    assert request["outcome"] == "finished", request
    return {
        "first_ms": (first_send_at(tim, user, sent_at) - sent_at) * 1000,
        "lag_ms": (final_at(message) - request["token_times"][-1]) * 1000,
    }


def ask_and_interrupt(stack: LocalStack, tim: EmulatorControl, user: str, question: str, pause: float) -> dict:
    """One turn interrupted ``pause`` seconds after its first modification arrived."""
    after = len(bot_messages(tim, DEMO_BOT, user, None))
    models_before = len(model_requests(stack))
    assert tim.send_c2c(user, DEMO_BOT, question)["ErrorCode"] == 0
    key = wait(lambda: read_answer(tim, DEMO_BOT, user, None, after).keys, "the first message")[-1]
    # The emulator's own record of the message, watched closely: an interrupt right after a
    # modification is the slowest to stop (the final one waits for that modification's second).
    assert stack.tim is not None
    (live,) = [m for m in stack.tim.service.messages if m.get("MsgKey") == key and m["To_Account"] == user]
    wait(lambda: live["history"], "a modification", poll=0.002)
    time.sleep(pause)
    interrupt(tim, DEMO_BOT, user, key)
    # The interrupt's send is answered (after its before-send callback): the emulator's Bot
    # callback to the bundle goes out now. Its record's time is in whole seconds; this is at most
    # a little earlier, which only lengthens what is measured from it.
    interrupted_at = time.time()
    answer = wait(lambda: finished(tim, user, after), f"the interrupted answer to {user}")
    whole = expected_answer(question, DEMO_MODEL)
    assert whole.startswith(answer.text) and len(answer.text) < len(whole), "the answer was not cut short"
    (message,) = bot_messages(tim, DEMO_BOT, user, None)[after:]
    (request,) = model_requests(stack)[models_before:]
    assert request["outcome"] == "disconnected", request
    return {
        "stop_ms": (final_at(message) - interrupted_at) * 1000,
        "tokens_after": sum(t > interrupted_at for t in request["token_times"]),
    }


def one_batch(stack: LocalStack, tim: EmulatorControl, users: list[str]) -> tuple[int, float]:
    """Every user asks at once; their turns are handed to one invocation of the worker. How many
    of its answers streamed at the same instant, and how long the invocation took (s)."""
    (poller,) = [p for p in stack.pollers if p.function.spec.logical_id == WORKER]
    poller.stop()
    sqs = stack.boto3_client("sqs")
    after = {user: len(bot_messages(tim, DEMO_BOT, user, None)) for user in users}
    questions = {user: f"all together now, {user}" for user in users}
    asked_at = time.time()
    for user in users:
        assert tim.send_c2c(user, DEMO_BOT, questions[user])["ErrorCode"] == 0
    received: list[dict[str, Any]] = []

    def all_received() -> bool:
        # A FIFO receive may leave some conversations for the next one: gathered until all are in.
        received.extend(
            sqs.receive_message(
                QueueUrl=poller.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )
        return len(received) >= len(users)

    wait(all_received, f"{len(users)} queued turns")
    assert len(received) == len(users), f"{len(received)} turns queued for {len(users)} questions"
    started = time.monotonic()
    # The local poller's own hand-over: one event, one invocation in one worker process.
    SqsPoller(poller.function, poller.source, poller.queue_url, poller.queue_arn, sqs).process(received)
    took = time.monotonic() - started
    spans = []
    for user in users:
        answer = finished(tim, user, after[user], expected_answer(questions[user], DEMO_MODEL))
        assert answer is not None, f"{user}'s answer is not complete after the invocation"
        (message,) = bot_messages(tim, DEMO_BOT, user, None)[after[user] :]
        spans.append((first_send_at(tim, user, asked_at), final_at(message)))
    return max_overlap(spans), took


def main() -> None:
    users = [f"bench-{i:02d}" for i in range(max(BATCH, INTERRUPTS, 1))]
    with LocalStack(api_port=0, aws_port=0, extra_env={"CONFIG_CACHE_SECONDS": "0"}) as stack:
        assert stack.tim is not None and stack.model is not None
        stack.tim.service.apply_seed(Seed(accounts=tuple(users)))
        tim = EmulatorControl(stack.tim_api_base)
        stack.model.configure(token_delay_ms=TOKEN_DELAY_MS, first_token_delay_ms=0)
        ask(stack, tim, "alice", "warm-up")
        turns = [ask(stack, tim, "alice", f"question {n} of the benchmark") for n in range(TURNS)]
        stack.model.configure(token_delay_ms=SLOW_TOKEN_DELAY_MS)
        # The interrupt's path warmed up first: sent while a modification's callbacks are under
        # way, its before-send callback starts a second callback worker (~0.5 s) the first time.
        ask_and_interrupt(stack, tim, "bob", "warm-up stop", pause=0)
        # The interrupts land all over the second between two modifications (the final one waits
        # for the second to end) and the worker's half-second interrupt polls.
        stops = [
            ask_and_interrupt(stack, tim, users[n], f"stop me {n}", pause=n / INTERRUPTS) for n in range(INTERRUPTS)
        ]
        stack.model.configure(token_delay_ms=BATCH_TOKEN_DELAY_MS)
        overlap, took = one_batch(stack, tim, users[:BATCH])
        every = tim.messages(From_Account=DEMO_BOT)
        tim.close()
    first = [t["first_ms"] for t in turns]
    lags = [t["lag_ms"] for t in turns]
    print(
        f"{TURNS} turns: first message {sorted(round(f) for f in first)} ms; final lag "
        f"{sorted(round(x) for x in lags)} ms; interrupts {stops}; batch of {BATCH}: {overlap} at once, "
        f"invocation {took:.1f} s",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "streams_per_worker": overlap,
                "stream_modifies_per_s_max": modifies_per_s_max(every),
                "stream_final_lag_ms": round(percentile(lags, 0.95), 1),
                "stream_final_lag_median_ms": round(statistics.median(lags), 1),
                "stream_first_message_ms": round(statistics.median(first), 1),
                "stream_first_message_p95_ms": round(percentile(first, 0.95), 1),
                "interrupt_stop_ms": round(max(s["stop_ms"] for s in stops), 1),
                "stream_tokens_after_interrupt": max(s["tokens_after"] for s in stops),
                "stream_interrupt_tokens_per_s": round(1000 / SLOW_TOKEN_DELAY_MS, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
