"""What `send` and `broadcast create` share: the message body, its sender and the send options."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from timctl.client import CliError


def add_message_arguments(parser: argparse.ArgumentParser) -> None:
    body = parser.add_argument_group("message").add_mutually_exclusive_group(required=True)
    body.add_argument("--text", help="a text message")
    body.add_argument(
        "--body-file",
        metavar="FILE",
        help="a JSON file ('-': stdin) holding the MsgBody (a list of elements), or a request object with "
        "msgBody and any other request fields (groupAtInfo, options.offlinePush, ...) that the options here add to",
    )
    options = parser.add_argument_group("send options")
    options.add_argument("--from", dest="sender", metavar="USER", help="the sender (default: the app admin)")
    options.add_argument("--priority", choices=["High", "Normal", "Low"], help="the message priority")
    options.add_argument("--online-only", action="store_true", help="deliver to online users only, store nothing")
    options.add_argument("--no-unread", action="store_true", help="do not count the message as unread")
    options.add_argument(
        "--no-last-message", action="store_true", help="do not make it the conversation's last message"
    )
    options.add_argument("--cloud-custom-data", metavar="TEXT", help="the message's CloudCustomData")


def read_json(name: str) -> Any:
    try:
        if name == "-":
            return json.load(sys.stdin)
        with open(name, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{name} is not JSON: {exc}") from None


def read_text(name: str) -> str:
    """A file's text ('-': stdin)."""
    try:
        if name == "-":
            return sys.stdin.read()
        with open(name, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{name} is not UTF-8 text") from None


def read_lines(name: str) -> list[str]:
    """The non-blank lines of a file ('-': stdin), stripped."""
    return [line.strip() for line in read_text(name).splitlines() if line.strip()]


def outgoing(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields for the message, sender and options the command line gives."""
    request: dict[str, Any]
    if args.text is not None:
        request = {"msgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": args.text}}]}
    else:
        loaded = read_json(args.body_file)
        if isinstance(loaded, list):
            request = {"msgBody": loaded}
        elif isinstance(loaded, dict) and "msgBody" in loaded:
            request = dict(loaded)
        else:
            raise CliError(f"{args.body_file}: give a list of message elements, or an object with msgBody")
    if args.sender:
        request["from"] = args.sender
    options = dict(request.get("options") or {})
    flags = {"onlineOnly": args.online_only, "noUnread": args.no_unread, "noLastMessage": args.no_last_message}
    options.update({name: True for name, given in flags.items() if given})
    if args.priority:
        options["priority"] = args.priority
    if args.cloud_custom_data is not None:
        options["cloudCustomData"] = args.cloud_custom_data
    if options:
        request["options"] = options
    return request
