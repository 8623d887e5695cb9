"""`callback sign`: a callback URL signed the way Tencent signs it, printed or POSTed.

Sign = hex(sha256(token + RequestTime)) (docs/protocol.md §1.2): the URL carries the Sign, never the
token, and is good for the endpoint's time window (60 s by default) from when it is made. With
--event, a sample API Gateway event (events/tim_callback/) is signed the same way and printed, for
`sam local invoke -e` and `sam remote invoke --event-file`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from typing import Any
from urllib.parse import urlencode

import requests

from timctl.client import TIMEOUT_S, AdminClient, CliError, exchange, is_loopback
from timctl.message import read_json
from timctl.output import print_json
from timkit.tim.callback_auth import callback_query

CALLBACK_PATH = "/tim/callback"
# The local stack's demo values (local/config.py), which it also reads from these variables.
DEMO_SDKAPPID = 1400000001
DEMO_CALLBACK_TOKEN = "local-demo-token-not-secret"  # noqa: S105 - a fake that only opens the local stack
DEFAULT_COMMAND = "C2C.CallbackBeforeSendMsg"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    callback = commands.add_parser("callback", parents=[common], help="signed callbacks, as Tencent sends them")
    actions = callback.add_subparsers(dest="action", required=True, metavar="ACTION")
    sign = actions.add_parser(
        "sign",
        parents=[common],
        help="print (or --send) a signed callback URL",
        description="Prints the callback URL (--api + /tim/callback) with the query Tencent adds, signed with "
        "the callback token (the URL has the Sign, never the token). With --send, POSTs a callback to it and "
        "prints the answer. The token and SDKAppID default to $TIM_CALLBACK_TOKEN and $TIM_SDKAPPID, then to "
        "the local stack's demo values.",
    )
    sign.add_argument(
        "--command",
        metavar="COMMAND",
        help=f"the CallbackCommand (default: the body's, else {DEFAULT_COMMAND}), e.g. C2C.CallbackAfterSendMsg, "
        "Group.CallbackBeforeSendMsg, Bot.OnC2CMessage",
    )
    sign.add_argument(
        "--body-file", metavar="FILE", help="the callback body to --send (JSON; '-': stdin; default: a sample)"
    )
    sign.add_argument("--text", default="hello from timctl", help="the sample body's text (default: %(default)s)")
    sign.add_argument("--send", action="store_true", help="POST the callback and print the answer")
    sign.add_argument(
        "--event",
        metavar="FILE",
        help="print this API Gateway event (e.g. events/tim_callback/c2c_before_send.json; '-': stdin) with its "
        "query signed now (SdkAppid, RequestTime, Sign), for sam local invoke -e / sam remote invoke --event-file",
    )
    sign.add_argument("--token", help="the callback token (default: $TIM_CALLBACK_TOKEN, else the local demo one)")
    sign.add_argument("--sdkappid", type=int, help="the SDKAppID (default: $TIM_SDKAPPID, else the local demo one)")
    sign.add_argument("--client-ip", default="127.0.0.1", help="the ClientIP parameter (default: %(default)s)")
    sign.add_argument("--platform", default="RESTAPI", help="the OptPlatform parameter (default: %(default)s)")
    sign.set_defaults(func=sign_callback)


def signed_url(api: str, sdkappid: int, token: str, command: str, client_ip: str, platform: str, now: int) -> str:
    query = callback_query(sdkappid, command, client_ip=client_ip, platform=platform, token=token, request_time=now)
    return f"{api.rstrip('/')}{CALLBACK_PATH}?{urlencode(query)}"


def sign_callback(args: argparse.Namespace, client: AdminClient) -> int:
    token = args.token or os.environ.get("TIM_CALLBACK_TOKEN") or DEMO_CALLBACK_TOKEN
    try:
        sdkappid = args.sdkappid or int(os.environ.get("TIM_SDKAPPID") or DEMO_SDKAPPID)
    except ValueError:
        raise CliError("TIM_SDKAPPID is not a number") from None
    if args.event:
        if args.send or args.body_file:
            raise CliError("--event prints the event it signs: it takes neither --send nor --body-file")
        print_json(signed_event(read_json(args.event), sdkappid, token, args.command, int(time.time())))
        return 0
    if token == DEMO_CALLBACK_TOKEN and not is_loopback(client.api):
        print("timctl: signing with the local stack's demo token; give --token for a deployed stack", file=sys.stderr)
    body = read_json(args.body_file) if args.body_file else None
    if body is not None and not isinstance(body, dict):
        raise CliError(f"{args.body_file}: a callback body is a JSON object")
    body_command = (body or {}).get("CallbackCommand")
    if args.command and body_command and args.command != body_command:
        raise CliError(f"--command {args.command} but the body's CallbackCommand is {body_command}")
    command = args.command or body_command or DEFAULT_COMMAND
    now = int(time.time())
    url = signed_url(client.api, sdkappid, token, command, args.client_ip, args.platform, now)
    if not args.send:
        print(url)
        return 0
    if body is None:
        body = sample_body(command, args.text, now)
    if args.verbose:
        print(f"POST {url}", file=sys.stderr)
    data = json.dumps(body, ensure_ascii=False).encode()
    status, answer = exchange(
        lambda: requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_S),
        client.api,
        url,
    )
    if not args.json:
        print(f"HTTP {status}", file=sys.stderr)
    print_json(answer)
    return 0


def signed_event(event: Any, sdkappid: int, token: str, command: str | None, now: int) -> dict[str, Any]:
    """``event`` (an HttpApi callback event) with the query Tencent would send now: its SdkAppid,
    RequestTime and Sign replaced, its other parameters kept."""
    if not isinstance(event, dict) or not isinstance(event.get("queryStringParameters"), dict):
        raise CliError("--event: not an API Gateway event with queryStringParameters (see events/tim_callback/)")
    query = {str(k): str(v) for k, v in event["queryStringParameters"].items()}
    try:
        body = json.loads(event.get("body") or "{}")
    except (TypeError, ValueError):
        body = None
    if not isinstance(body, dict):
        raise CliError("--event: its body is not a JSON callback")
    said = (query.get("CallbackCommand"), body.get("CallbackCommand"), command)
    named = {str(value) for value in said if value is not None}
    if len(named) != 1:
        raise CliError(f"--event: which CallbackCommand? the query, the body and --command say {sorted(named)}")
    (chosen,) = named
    query.update(
        callback_query(
            sdkappid,
            chosen,
            client_ip=query.get("ClientIP", "127.0.0.1"),
            platform=query.get("OptPlatform", "RESTAPI"),
            token=token,
            request_time=now,
        )
    )
    return {**event, "queryStringParameters": query, "rawQueryString": urlencode(query)}


def sample_body(command: str, text: str, now: int) -> dict[str, Any]:
    """A plausible body for a message callback: alice to bob, or alice in @TGS#timctl-demo."""
    elements = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]
    random = secrets.randbelow(2**32)
    if command in ("C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterSendMsg", "Bot.OnC2CMessage"):
        body: dict[str, Any] = {
            "CallbackCommand": command,
            "From_Account": "alice",
            "To_Account": "@RBT#timctl-demo" if command == "Bot.OnC2CMessage" else "bob",
            "MsgSeq": 1,
            "MsgRandom": random,
            "MsgTime": now,
            "MsgKey": f"1_{random}_{now}",
            "OnlineOnlyFlag": 0,
            "MsgBody": elements,
            "CloudCustomData": "",
            "EventTime": now * 1000,
        }
        if command != "C2C.CallbackBeforeSendMsg":
            body.update(SendMsgResult=0, ErrorInfo="send msg succeed", UnreadMsgNum=1)
        return body
    if command in ("Group.CallbackBeforeSendMsg", "Group.CallbackAfterSendMsg", "Bot.OnGroupMessage"):
        body = {
            "CallbackCommand": command,
            "GroupId": "@TGS#timctl-demo",
            "Type": "Public",
            "From_Account": "alice",
            "Operator_Account": "alice",
            "Random": random,
            "OnlineOnlyFlag": 0,
            "MsgBody": elements,
            "CloudCustomData": "",
            "EventTime": now * 1000,
        }
        if command != "Group.CallbackBeforeSendMsg":
            body.update(MsgSeq=random % 1_000_000 + 1, MsgTime=now)
        if command == "Bot.OnGroupMessage":
            body["AtRobots_Account"] = ["@RBT#timctl-demo"]
        return body
    raise CliError(f"no sample body for {command}: give one with --body-file")
