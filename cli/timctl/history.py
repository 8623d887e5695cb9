"""`history`: a conversation from the archive printed like a chat log, and the archive's backfill."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from timctl.client import AdminClient, CliError, path
from timctl.output import print_json

PAGE = 50
MAX_PAGE = 100


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    history = commands.add_parser(
        "history",
        parents=[common],
        help="print a conversation from the archive like a chat log, or backfill the archive",
        description="Prints a conversation's messages and system events from the archive, oldest at the top: "
        "the latest page, or a time range, or everything (--all). CONVERSATION is c2c:<user>:<user> (either "
        "order), group:<GroupId> or topic:<GroupId>:<TopicId> (':' and '%' inside ids written %3A and %25). "
        "`timctl history backfill` puts messages archived before the history index into it.",
    )
    history.add_argument("conversation", metavar="CONVERSATION|backfill", help="the conversation id, or backfill")
    history.add_argument("--since", metavar="TIME", help="from this time (ISO 8601 or Unix seconds)")
    history.add_argument("--until", metavar="TIME", help="up to this time (ISO 8601 or Unix seconds)")
    history.add_argument(
        "--limit", type=int, default=PAGE, help=f"messages a page (default {PAGE}, at most {MAX_PAGE})"
    )
    history.add_argument("--next-token", metavar="TOKEN", help="the older page after the one that printed it")
    history.add_argument("--all", action="store_true", help="every page (from --since to --until)")
    history.set_defaults(func=history_command, parser=history)


def history_command(args: argparse.Namespace, client: AdminClient) -> int:
    if args.conversation == "backfill":
        return backfill(args, client)
    if not 1 <= args.limit <= MAX_PAGE:
        args.parser.error(f"--limit is 1 to {MAX_PAGE}")
    query = {
        "startTime": _seconds(args.since, "--since"),
        "endTime": _seconds(args.until, "--until"),
        "pageSize": args.limit,
    }
    route = path("admin", "conversations", args.conversation, "messages")
    answer = client.get(route, **query, nextToken=args.next_token)
    entries = list(answer["entries"])
    while args.all and answer.get("nextToken"):
        answer = client.get(route, **query, nextToken=answer["nextToken"])
        entries.extend(answer["entries"])
    if args.json:
        print_json({**answer, "entries": entries} if args.all else answer)
        return 0
    # Pages come newest first; a chat log reads down.
    for entry in reversed(entries):
        print(line(entry))
    marks = answer.get("readMarks") or {}
    if marks:
        print("read: " + ", ".join(f"{reader} up to {_time(at)}" for reader, at in sorted(marks.items())))
    if not entries:
        print(f"nothing archived in {answer['conversation']}" + (" in that time" if args.since or args.until else ""))
    if answer.get("nextToken") and not args.all:
        more = f"timctl history {shlex.quote(args.conversation)} --next-token {shlex.quote(answer['nextToken'])}"
        print(f"older: {more}", file=sys.stderr)
    return 0


def line(entry: dict[str, Any]) -> str:
    when = _time(entry["time"])
    if entry.get("kind") == "system":
        return f"{when}  -- {_system(entry.get('system') or {})}"
    text = " ".join(_element(element) for element in entry.get("body") or []) or "(empty)"
    marks = []
    if entry.get("editedAt") is not None:
        marks.append(f"edited {_time(entry['editedAt'])}")
    if entry.get("deletedAt") is not None:
        by = f" by {entry['deletedBy']}" if entry.get("deletedBy") else ""
        marks.append(f"deleted{by} {_time(entry['deletedAt'])}")
    return f"{when}  {entry.get('sender') or '?'}: {text}" + (f"  ({'; '.join(marks)})" if marks else "")


def _system(event: dict[str, Any]) -> str:
    who = event.get("operator") or "someone"
    people = ", ".join(event.get("participants") or [])
    kind = event.get("type")
    if kind == "thread_created":
        return (
            f"{who} created the group"
            + (f" {event['topic']!r}" if event.get("topic") else "")
            + (f" with {people}" if people else "")
        )
    if kind == "participants_added":
        return f"{who} added {people}"
    if kind == "participants_removed":
        return f"{who} removed {people}"
    if kind in ("topic_updated", "info_updated"):
        changes = event.get("changes") or {}
        return f"{who} changed " + ", ".join(f"{name} to {value!r}" for name, value in changes.items())
    if kind == "thread_deleted":
        return "the group was dismissed" + (f" (members: {people})" if people else "")
    return str(kind)


def _element(element: dict[str, Any]) -> str:
    kind, content = element.get("MsgType"), element.get("MsgContent")
    content = content if isinstance(content, dict) else {}
    if kind == "TIMTextElem":
        return str(content.get("Text", ""))
    summary: Callable[[], str] = {
        "TIMFaceElem": lambda: f"face {content.get('Index', '')}",
        "TIMImageElem": lambda: "image",
        "TIMSoundElem": lambda: f"voice {content.get('Second', '?')}s",
        "TIMVideoFileElem": lambda: f"video {content.get('VideoSecond', '?')}s",
        "TIMFileElem": lambda: f"file {content.get('FileName', '')}".rstrip(),
        "TIMLocationElem": lambda: f"location {content.get('Desc', '')}".rstrip(),
        "TIMCustomElem": lambda: "custom " + str(content.get("Desc") or content.get("Data") or "")[:40],
        "TIMRelayElem": lambda: f"merged {content.get('Title', '')!r}, {content.get('MsgNum', '?')} messages",
        "TIMStreamElem": lambda: f"stream {content.get('CompatibleText', '')}".rstrip(),
    }.get(str(kind), lambda: str(kind))
    return f"[{summary().strip()}]"


def _time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} {value}: give Unix seconds or an ISO 8601 time, e.g. 2026-12-24T18:00:00Z") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def backfill(args: argparse.Namespace, client: AdminClient) -> int:
    token, number = args.next_token, 0
    totals = {"scanned": 0, "updated": 0, "unreadable": 0}
    unreadable: list[str] = []
    while True:
        number += 1
        # Each call is a request of its own: one key each (a repeat of one key would answer the first).
        key = f"{client.idempotency_key}-{number}" if client.idempotency_key else None
        answer = client.post(
            path("admin", "archive", "backfill"), {"nextToken": token} if token else {}, idempotency_key=key
        )
        for name in totals:
            totals[name] += answer[name]
        unreadable += answer.get("unreadableIds", [])
        token = answer.get("nextToken")
        print(
            f"backfill: {totals['scanned']} scanned, {totals['updated']} updated, "
            f"{totals['unreadable']} unreadable" + ("" if answer["done"] else " ..."),
            file=sys.stderr,
        )
        if answer["done"]:
            break
    if args.json:
        print_json({**totals, "unreadableIds": unreadable, "done": True})
    else:
        print(f"backfill done: {totals['updated']} messages put into history, {totals['unreadable']} unreadable")
        for message_id in unreadable:
            print(f"unreadable: {message_id}")
    return 1 if totals["unreadable"] else 0
