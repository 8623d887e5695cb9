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
    options.add_argument(
        "--receiver",
        action="append",
        metavar="USER",
        help="group only: deliver to this member alone (repeatable, ≤ 50)",
    )
    options.add_argument("--need-read-receipt", action="store_true", help="ask for read receipts")
    options.add_argument("--support-extension", action="store_true", help="let the message carry extensions")
    options.add_argument(
        "--exclude-from-moderation", action="store_true", help="not sent to content moderation (where enabled)"
    )
    push = parser.add_argument_group("offline push (OfflinePushInfo)")
    push.add_argument("--no-offline-push", action="store_true", help="no offline push for this message")
    push.add_argument("--push-title", metavar="TEXT", help="the notification's title")
    push.add_argument("--push-text", metavar="TEXT", help="the notification's text")
    push.add_argument("--ios-no-badge", action="store_true", help="iOS: do not raise the app icon's badge count")
    for vendor, field in ANDROID_CHANNELS.items():
        push.add_argument(f"--{vendor}-channel", metavar="ID", help=f"Android: the {field}")


# Command-line vendor → AndroidInfo's channel id field (docs/protocol.md §5.10).
ANDROID_CHANNELS = {
    "huawei": "HuaWeiChannelID",
    "xiaomi": "XiaoMiChannelID",
    "oppo": "OPPOChannelID",
    "google": "GoogleChannelID",
}


def add_schedule_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    when = parser.add_argument_group("schedule (default: now)")
    at_or_cron = when.add_mutually_exclusive_group()
    at_or_cron.add_argument(
        "--at", metavar="ISO8601", help=f"{what} once, at this time, e.g. 2026-12-24T18:00:00+08:00"
    )
    at_or_cron.add_argument("--cron", metavar="EXPR", help=f"{what} on a schedule, e.g. 'cron(0 9 ? * MON-FRI *)'")
    when.add_argument("--timezone", metavar="TZ", help="the IANA time zone of --cron, or of an --at without offset")


def schedule(args: argparse.Namespace) -> dict[str, Any] | None:
    """The request's schedule from --at / --cron / --timezone; None: now. (``args.parser``: the command's.)"""
    if args.timezone and not (args.at or args.cron):
        args.parser.error("--timezone goes with --at or --cron")
    if not (args.at or args.cron):
        return None
    when = {"at": args.at} if args.at else {"cron": args.cron}
    return {**when, **({"timezone": args.timezone} if args.timezone else {})}


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
    if args.receiver:
        options["receiverList"] = list(dict.fromkeys(args.receiver))
    options.update({name: True for name, given in _sdk_flags(args).items() if given})
    if push := _offline_push(args, dict(options.get("offlinePush") or {})):
        options["offlinePush"] = push
    if options:
        request["options"] = options
    return request


def _sdk_flags(args: argparse.Namespace) -> dict[str, bool]:
    return {
        "needReadReceipt": args.need_read_receipt,
        "supportExtension": args.support_extension,
        "excludedFromContentModeration": args.exclude_from_moderation,
    }


def _offline_push(args: argparse.Namespace, push: dict[str, Any]) -> dict[str, Any]:
    """The OfflinePushInfo the options give, over what the body file gave."""
    if args.no_offline_push:
        push["PushFlag"] = 1
    for flag, field in ((args.push_title, "Title"), (args.push_text, "Desc")):
        if flag is not None:
            push[field] = flag
    if args.ios_no_badge:
        push["ApnsInfo"] = {**(push.get("ApnsInfo") or {}), "BadgeMode": 1}
    channels = {field: getattr(args, f"{vendor}_channel") for vendor, field in ANDROID_CHANNELS.items()}
    if channels := {field: value for field, value in channels.items() if value is not None}:
        push["AndroidInfo"] = {**(push.get("AndroidInfo") or {}), **channels}
    return push
