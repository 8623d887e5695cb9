"""Chat over the local stack's WebSocket gateway as a user, in the gateway's JSON frames.

    .venv/bin/python -m local.ws_chat --as alice
    .venv/bin/python -m local.ws_chat --as bob --send '@alice hello' --send '#@TGS#demo hi all'

The UserSig is made by the local stack (``GET /_local/usersig`` on the gateway's port, loopback
only). Every frame in and out is printed as JSON (``->`` sent, ``<-`` received). Type:

    @bob hello there          a text message to bob (type "single")
    #@TGS#demo hello all      a text message to the group @TGS#demo (type "group")
    /join GROUP  /leave GROUP join or leave a group
    {"type": ...}             any frame, sent as typed (msgId and timestamp are yours to give)

``--send`` sends its lines, waits for their acks and for --wait seconds more, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

DEFAULT_WS_PORT = 3003
DEFAULT_URL = f"ws://127.0.0.1:{DEFAULT_WS_PORT}/live"
USERSIG_PATH = "/_local/usersig"


class Usage(ValueError):
    """A line that is none of the forms the docstring lists."""


def frame_of(line: str, user: str, msg_id: int, now: int) -> dict[str, Any]:
    """The frame a typed line stands for."""
    line = line.strip()
    if line.startswith("{"):
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise Usage(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise Usage("a frame is a JSON object")
        return value
    if line.startswith(("/join ", "/leave ")):
        command, _, group = line.partition(" ")
        return {"type": command[1:], "source": user, "target": group.strip(), "msg": {"msgId": msg_id}}
    if line[:1] in ("@", "#") and " " in line:
        target, _, text = line[1:].partition(" ")
        return {
            "type": "single" if line[0] == "@" else "group",
            "source": user,
            "target": target,
            "msgType": "text",
            "msg": {"msgId": msg_id, "timestamp": now, "content": text},
        }
    raise Usage("type @user text, #group text, /join group, /leave group or a JSON frame")


def usersig(ws_url: str, user: str) -> str:
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    response = requests.get(f"{scheme}://{parts.netloc}{USERSIG_PATH}", params={"identifier": user}, timeout=10)
    response.raise_for_status()
    return response.text


def show(direction: str, text: str | bytes) -> None:
    try:
        shown = json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        shown = repr(text)
    print(f"{direction} {shown}", flush=True)


async def chat(url: str, user: str, lines: list[str] | None, wait_s: float) -> int:
    token = usersig(url, user)
    ids = itertools.count(1)
    try:
        socket = await connect(f"{url}?token={quote(token)}")
    except InvalidStatus as exc:
        print(f"refused: HTTP {exc.response.status_code} {exc.response.body.decode(errors='replace').strip()}")
        return 1
    async with socket:
        print(f"connected to {url} as {user}", flush=True)
        pending: set[Any] = set()
        acked = asyncio.Event()

        async def receive() -> None:
            async for message in socket:
                show("<-", message)
                try:
                    value = json.loads(message)
                except ValueError:
                    continue
                if isinstance(value, dict) and value.get("type") == "ack":
                    pending.discard(value.get("msgId"))
                    if not pending:
                        acked.set()

        async def send(line: str) -> None:
            try:
                frame = frame_of(line, user, next(ids), int(time.time()))
            except Usage as exc:
                print(f"!! {exc}", flush=True)
                return
            msg = frame.get("msg")
            if isinstance(msg, dict):
                pending.add(msg.get("msgId"))
                acked.clear()
            text = json.dumps(frame, ensure_ascii=False)
            show("->", text)
            await socket.send(text)

        receiver = asyncio.create_task(receive())
        try:
            if lines is not None:
                for line in lines:
                    await send(line)
                if pending:
                    await asyncio.wait_for(acked.wait(), timeout=30)
                await asyncio.sleep(wait_s)
            else:
                loop = asyncio.get_running_loop()
                while (line := await loop.run_in_executor(None, sys.stdin.readline)) != "":
                    if line.strip():
                        await send(line)
        except ConnectionClosed as exc:
            # The gateway closed it (idle for 10 minutes, 2 hours old, a frame over its size).
            print(f"connection closed: {exc}", flush=True)
            return 1
        finally:
            receiver.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.ws_chat", description=__doc__.split("\n")[0])
    parser.add_argument("--as", dest="user", required=True, help="the user to connect as")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the WebSocket gateway (default {DEFAULT_URL})")
    parser.add_argument("--send", action="append", help="a line to send (repeatable); then exit")
    parser.add_argument("--wait", type=float, default=1.0, help="with --send: seconds to keep listening after the acks")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(chat(args.url, args.user, args.send, args.wait))
    except KeyboardInterrupt:
        return 0
    except (OSError, requests.RequestException) as exc:
        print(f"cannot reach the WebSocket gateway at {args.url}: {exc} (is `make run` running?)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
