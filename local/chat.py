"""Chat with a bot as a simulated user, and watch the answer grow as a chat client shows it.

    .venv/bin/python -m local.chat '@RBT#assistant' --as alice "what is a merger?"
    .venv/bin/python -m local.chat '@RBT#assistant' --as alice --group @TGS#demo "hello bot"

The message goes through the Tencent IM emulator, which calls the bundle's callback as Tencent
would; the bot worker answers with the configured model. This follows the bot's chatbot messages
(docs/protocol.md §8.3) the way a client follows "message received" and "message modified"
events, printing the text as it grows, until the answer is finished. Ctrl-C sends the interrupt
(``src`` 22 with the streaming message's key) and shows the answer stop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from local.tim_emulator.config import DEFAULT_PORT
from local.tim_emulator.control import EmulatorControl, EmulatorControlError

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
POLL_S = 0.1
# How long after the last finished message the answer may still continue in a new one (the worker
# rolls a long answer over into a new message right after finishing the previous one).
SETTLE_S = 2.0


def chatbot_payload(message: dict[str, Any]) -> dict[str, Any] | None:
    """The chatbot payload of a message's (latest) body, if it is one."""
    for element in message.get("MsgBody") or []:
        if element.get("MsgType") == "TIMCustomElem":
            try:
                payload = json.loads(element.get("MsgContent", {}).get("Data") or "")
            except ValueError:
                continue
            if isinstance(payload, dict) and payload.get("chatbotPlugin") == 2:
                return payload
    return None


def message_key(message: dict[str, Any]) -> str:
    """The key the interrupt names a bot message by: ``MsgKey`` (C2C), or for a group message
    ``<MsgSeq>_<Random>_<MsgTime>``, the same shape."""
    if message.get("MsgKey"):
        return str(message["MsgKey"])
    return f"{message['MsgSeq']}_{message.get('Random', 0)}_{message.get('MsgTime', 0)}"


@dataclass
class Answer:
    """The bot's messages for one question, in order, as last seen."""

    texts: list[str] = field(default_factory=list)
    finished: list[bool] = field(default_factory=list)
    error: str | None = None
    keys: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def bot_messages(tim: EmulatorControl, bot: str, user: str, group: str | None) -> list[dict[str, Any]]:
    """The bot's messages in the conversation, in the order they were delivered (a C2C MsgSeq is
    random, not a position)."""
    if group is None:
        return tim.messages(From_Account=bot, To_Account=user)
    return tim.messages(From_Account=bot, GroupId=group)


def read_answer(tim: EmulatorControl, bot: str, user: str, group: str | None, after: int) -> Answer:
    """The answer in the bot's messages after the first ``after`` of them."""
    answer = Answer()
    for message in bot_messages(tim, bot, user, group)[after:]:
        payload = chatbot_payload(message)
        if payload is None:
            continue
        if payload.get("src") == 23:
            answer.error = str(payload.get("errorInfo", ""))
            continue
        if payload.get("src") == 2:
            chunks = payload.get("chunks") or []
            answer.texts.append("".join(c for c in chunks if isinstance(c, str)))
            answer.finished.append(payload.get("isFinished", 1) == 1)
            answer.keys.append(message_key(message))
    return answer


def follow(
    tim: EmulatorControl,
    bot: str,
    user: str,
    group: str | None,
    after: int,
    timeout: float,
    out: Any = sys.stdout,
    shown: str = "",
) -> Answer:
    """Print the answer as it grows (past what was ``shown`` already); returns it once finished
    (or with an error)."""
    settled_at: float | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = read_answer(tim, bot, user, group, after)
        text = answer.text
        if text.startswith(shown) and len(text) > len(shown):
            out.write(text[len(shown) :])
            out.flush()
            shown = text
        if answer.error is not None:
            out.write(f"\n[error] {answer.error}\n")
            return answer
        if answer.finished and all(answer.finished):
            settled_at = settled_at or time.monotonic()
            if time.monotonic() - settled_at >= SETTLE_S:
                out.write("\n")
                return answer
        else:
            settled_at = None
        time.sleep(POLL_S)
    raise TimeoutError(f"no finished answer from {bot} within {timeout:g} s")


def interrupt(tim: EmulatorControl, bot: str, user: str, key: str) -> None:
    """What a chat client sends to stop a streaming answer (docs/protocol.md §8.3): an online-only custom message."""
    data = json.dumps({"chatbotPlugin": 2, "src": 22, "msgKey": key}, separators=(",", ":"))
    tim.send_c2c(user, bot, [{"MsgType": "TIMCustomElem", "MsgContent": {"Data": data}}], MsgLifeTime=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.chat", description=__doc__.split("\n")[0])
    parser.add_argument("bot", help="the bot, e.g. @RBT#assistant")
    parser.add_argument("text")
    parser.add_argument("--as", dest="user", default="alice", help="the simulated user (default alice)")
    parser.add_argument("--group", help="ask in this group, @-mentioning the bot")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the emulator (default {DEFAULT_URL})")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)

    tim = EmulatorControl(args.url)
    try:
        after = len(bot_messages(tim, args.bot, args.user, args.group))
        if args.group is None:
            sent = tim.send_c2c(args.user, args.bot, args.text)
        else:
            at = [{"GroupAtAllFlag": 0, "GroupAt_Account": args.bot}]
            sent = tim.send_group(args.user, args.group, args.text, GroupAtInfo=at)
        if sent.get("ErrorCode"):
            print(f"not sent: {sent.get('ErrorCode')} {sent.get('ErrorInfo')}", file=sys.stderr)
            return 1
        print(f"{args.user}: {args.text}\n{args.bot}: ", end="", flush=True)
        try:
            answer = follow(tim, args.bot, args.user, args.group, after, args.timeout)
        except KeyboardInterrupt:
            answer = read_answer(tim, args.bot, args.user, args.group, after)
            if not answer.keys:
                print("\n(interrupted before the answer began)")
                return 130
            interrupt(tim, args.bot, args.user, answer.keys[-1])
            print(" [interrupt sent]", end="", flush=True)
            answer = follow(tim, args.bot, args.user, args.group, after, 10.0, shown=answer.text)
            return 130
    except (requests.RequestException, EmulatorControlError, TimeoutError) as exc:
        print(
            f"\ncould not chat through the emulator at {tim.base_url}: {exc} (is `make run` running?)", file=sys.stderr
        )
        return 1
    finally:
        tim.close()
    return 1 if answer.error is not None else 0


if __name__ == "__main__":
    sys.exit(main())
