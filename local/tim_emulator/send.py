"""Makes a simulated user send a message through the Tencent IM emulator and shows what happened.

    .venv/bin/python -m local.tim_emulator.send c2c alice bob "well darn it" [--url URL]
    .venv/bin/python -m local.tim_emulator.send group alice @TGS#demo "hello @bot" [--at @RBT#assistant]

The emulator calls the callback URL (the local stack's /tim/callback under `make run`), applies the
before-send answer, delivers, then sends the after-send and bot callbacks. This prints the outcome,
the body as sent and as delivered, and every callback the message caused.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import requests

from local.tim_emulator.config import DEFAULT_PORT
from local.tim_emulator.control import EmulatorControl, EmulatorControlError, text_body

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"


def render_body(body: list[dict[str, Any]] | None) -> str:
    if not body:
        return "(nothing)"
    parts = []
    for element in body:
        if element.get("MsgType") == "TIMTextElem":
            parts.append(json.dumps(element.get("MsgContent", {}).get("Text", ""), ensure_ascii=False))
        else:
            parts.append(json.dumps(element, ensure_ascii=False, separators=(",", ":")))
    return " + ".join(parts)


def report(answer: dict[str, Any], sent: list[dict[str, Any]], callbacks: list[dict[str, Any]], url: str) -> str:
    lines = [f"  outcome    {answer['outcome']}" + (f" ({answer['reason']})" if answer.get("reason") else "")]
    lines.append(f"  ErrorCode  {answer['ErrorCode']}" + (f"  {answer['ErrorInfo']}" if answer["ErrorInfo"] else ""))
    for name in ("MsgKey", "MsgSeq", "MsgDropReason"):
        if answer.get(name) not in (None, ""):
            lines.append(f"  {name:<10} {answer[name]}")
    message = answer.get("message")
    lines.append(f"  sent       {render_body(sent)}")
    if message is not None and answer["outcome"] in ("delivered", "rewritten"):
        lines.append(f"  delivered  {render_body(message['MsgBody'])}")
        if message.get("CloudCustomData"):
            lines.append(f"  CloudCustomData {message['CloudCustomData']}")
    lines.append(f"callbacks (to {url or 'nowhere: no callback_url is configured'}):")
    for record in callbacks:
        status = f"HTTP {record['status']}" if record["status"] is not None else "no answer"
        note = record.get("error") or ""
        decision = record.get("decision")
        if decision:
            note = decision["action"] + (f" {decision['code']}" if decision["code"] else "")
            note += f" ({decision['reason']})" if decision["reason"] else ""
        lines.append(f"  {record['command']:<28} {status:<9} {record['duration_ms']:>7.1f} ms  {note}")
    if not callbacks:
        lines.append("  (none)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.tim_emulator.send", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["c2c", "group"])
    parser.add_argument("sender", help="the simulated user, e.g. alice")
    parser.add_argument("to", help="the recipient (c2c) or the GroupId (group), e.g. bob or @TGS#demo")
    parser.add_argument("text")
    parser.add_argument("--url", help=f"the emulator (default: the state file's, else {DEFAULT_URL})")
    parser.add_argument("--state-file", help="the state file of `python -m local --state-file`")
    parser.add_argument("--at", action="append", default=[], metavar="USER", help="group: @-mention (repeatable)")
    parser.add_argument("--at-all", action="store_true", help="group: @all")
    parser.add_argument("--priority", choices=["High", "Normal", "Low"], help="group: MsgPriority")
    parser.add_argument("--json", action="store_true", help="print the emulator's answer as JSON")
    args = parser.parse_args(argv)

    url = args.url
    if url is None and args.state_file:
        with open(args.state_file, encoding="utf-8") as f:
            url = json.load(f)["tim_api_base"]
    tim = EmulatorControl(url or DEFAULT_URL)
    body = text_body(args.text)
    try:
        if args.kind == "c2c":
            answer = tim.send_c2c(args.sender, args.to, body)
            title = f"{args.sender} → {args.to} (C2C)"
        else:
            fields: dict[str, Any] = {}
            at = [{"GroupAtAllFlag": 1}] if args.at_all else []
            at += [{"GroupAtAllFlag": 0, "GroupAt_Account": user} for user in args.at]
            if at:
                fields["GroupAtInfo"] = at
            if args.priority:
                fields["MsgPriority"] = args.priority
            answer = tim.send_group(args.sender, args.to, body, **fields)
            title = f"{args.sender} → {args.to} (group)"
        callbacks: list[dict[str, Any]] = []
        if answer.get("send_id") is not None:
            tim.wait_idle()
            callbacks = tim.callbacks(send_id=answer["send_id"])
        callback_url = tim.config().get("callback_url") or ""
    except (requests.RequestException, EmulatorControlError, TimeoutError) as exc:
        print(f"could not talk to the emulator at {tim.base_url}: {exc} (is `make run` running?)", file=sys.stderr)
        return 1
    finally:
        tim.close()
    if args.json:
        print(json.dumps({"answer": answer, "callbacks": callbacks}, indent=2, ensure_ascii=False))
    else:
        print(title)
        print(report(answer, body, callbacks, callback_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
