"""Sends a correctly signed before-send callback to the local stack and prints the answer.

    .venv/bin/python -m local.send_sample [c2c|group] ["message text"] [--url URL] [--state-file PATH]

The Sign is computed when this runs, so the command keeps working however late it is pasted.
The token and SDKAppID come from the state file when given, otherwise from the same environment
variables and demo defaults the local stack uses.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from local.config import LocalConfig
from local.tim_emulator.control import text_body
from timkit.tim.callback_auth import callback_query

CALLBACK_PATH = "/tim/callback"
DEFAULT_URL = "http://127.0.0.1:3000"
DEFAULT_TEXT = "well darn, the local stack works"


def sample_body(kind: str, text: str, now: int) -> dict[str, Any]:
    body = text_body(text)
    if kind == "group":
        return {
            "CallbackCommand": "Group.CallbackBeforeSendMsg",
            "GroupId": "@TGS#local-demo",
            "Type": "Public",
            "From_Account": "alice",
            "Operator_Account": "alice",
            "Random": 2_882_343_476,
            "OnlineOnlyFlag": 0,
            "MsgBody": body,
            "CloudCustomData": "",
            "EventTime": now * 1000,
        }
    return {
        "CallbackCommand": "C2C.CallbackBeforeSendMsg",
        "From_Account": "alice",
        "To_Account": "bob",
        "MsgSeq": 1,
        "MsgRandom": 2_882_343_476,
        "MsgTime": now,
        "MsgKey": f"1_2882343476_{now}",
        "OnlineOnlyFlag": 0,
        "MsgBody": body,
        "CloudCustomData": "",
        "EventTime": now * 1000,
    }


def send(url: str, sdkappid: int, token: str, kind: str, text: str) -> tuple[int, str]:
    now = int(time.time())
    body = sample_body(kind, text, now)
    query = callback_query(sdkappid, body["CallbackCommand"], token=token, request_time=now)
    request = urllib.request.Request(  # noqa: S310 - the URL is the local API's
        f"{url.rstrip('/')}{CALLBACK_PATH}?{urlencode(query)}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.send_sample", description=__doc__.split("\n")[0])
    parser.add_argument("kind", nargs="?", choices=["c2c", "group"], default="c2c")
    parser.add_argument("text", nargs="?", default=DEFAULT_TEXT)
    parser.add_argument("--url", default=None, help=f"the local API (default {DEFAULT_URL})")
    parser.add_argument("--state-file", help="read the URL, SDKAppID and token from `python -m local --state-file`")
    args = parser.parse_args(argv)
    if args.state_file:
        with open(args.state_file, encoding="utf-8") as f:
            state = json.load(f)
        url, sdkappid, token = state["api_url"], state["sdkappid"], state["callback_token"]
    else:
        config = LocalConfig.from_env()
        url, sdkappid, token = DEFAULT_URL, config.sdkappid, config.callback_token
    url = args.url or url
    try:
        status, answer = send(url, sdkappid, token, args.kind, args.text)
    except OSError as exc:
        print(f"could not reach {url}: {exc} (is `make run` running?)", file=sys.stderr)
        return 1
    print(f"HTTP {status}")
    try:
        print(json.dumps(json.loads(answer), indent=2, ensure_ascii=False))
    except ValueError:
        print(answer)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
