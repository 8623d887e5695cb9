"""`threads ...`: chat threads (the /admin/threads routes), one admin API call per command."""

from __future__ import annotations

import argparse
import json
from typing import Any

from timctl.client import AdminClient, CliError, path
from timctl.output import print_json, print_rows


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    threads = commands.add_parser("threads", parents=[common], help="chat threads: groups and one-to-one chats")
    actions = threads.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, func: Any, help_text: str, thread: bool = True) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, parents=[common], help=help_text)
        if thread:
            parser.add_argument("thread", metavar="THREAD", help="the thread id: group:<GroupId> or c2c:<user>:<user>")
        parser.set_defaults(func=func)
        return parser

    create = action(
        "create", create_thread, "create a group thread with participants (exits 1 if any failed)", thread=False
    )
    create.add_argument("topic", metavar="TOPIC", help="the topic (the group's name, at most 30 bytes)")
    create.add_argument("participants", metavar="USER", nargs="+", help="the users in it")

    listing = action("list", list_threads, "list the group threads", thread=False)
    listing.add_argument("--since", type=int, metavar="SECONDS", help="only threads active since (Unix seconds)")
    _paging(listing)

    action("show", show_thread, "show a thread's properties")

    send = action("send", send_message, "send a message; prints its id")
    send.add_argument("--from", dest="sender", required=True, metavar="USER", help="the sender")
    send.add_argument("text", metavar="TEXT", help="the content")
    send.add_argument("--type", default="text", help="text (default), html or a type of your own")
    send.add_argument("--name", metavar="NAME", help="the sender's display name")
    send.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="metadata (repeatable)")

    messages = action("messages", list_messages, "print messages and events like a chat log")
    messages.add_argument("--since", type=int, metavar="SECONDS", help="only from then on (Unix seconds)")
    _paging(messages)

    edit = action("edit", edit_message, "replace a message's content and/or metadata")
    edit.add_argument("message", metavar="MESSAGE", help="the message id")
    edit.add_argument("text", metavar="TEXT", nargs="?", help="the new content")
    edit.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="new metadata (repeatable)")

    delete_message = action("delete-message", delete_one_message, "recall a message for everyone")
    delete_message.add_argument("message", metavar="MESSAGE", help="the message id")

    read = action("read", send_read_receipt, "mark a message read by a user")
    read.add_argument("message", metavar="MESSAGE", help="the message id")
    read.add_argument("--by", dest="reader", required=True, metavar="USER", help="who read it")

    action("receipts", list_receipts, "each reader's newest read message")

    add = action("add", add_participants, "add participants (exits 1 if any failed)")
    add.add_argument("participants", metavar="USER", nargs="+")

    remove = action("remove", remove_participant, "remove a participant")
    remove.add_argument("user", metavar="USER")

    participants = action("participants", list_participants, "list the participants")
    _paging(participants)

    typing = action("typing", send_typing, "send a typing notice (one-to-one threads only)")
    typing.add_argument("--from", dest="sender", required=True, metavar="USER", help="who is typing")

    action("delete", delete_thread, "dismiss a group thread (irrevocable)")


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page-size", type=int, metavar="N", help="items per page")
    parser.add_argument("--next-token", metavar="TOKEN", help="continue from a page's nextToken")
    parser.add_argument("--all", action="store_true", help="follow nextToken to the end")


def _route(thread: str, *rest: str) -> str:
    return path("admin", "threads", thread, *rest)


def _metadata(pairs: list[str]) -> dict[str, str] | None:
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--meta {pair}: give KEY=VALUE")
        metadata[key] = value
    return metadata or None


def _pages(args: argparse.Namespace, client: AdminClient, route: str, **query: Any) -> list[dict[str, Any]]:
    """The pages asked for: one, or with --all every page."""
    pages, token = [], args.next_token
    while True:
        page = client.get(route, pageSize=args.page_size, nextToken=token, **query)
        pages.append(page)
        token = page.get("nextToken")
        if not args.all or not token:
            return pages


def _tail(pages: list[dict[str, Any]]) -> None:
    if token := pages[-1].get("nextToken"):
        print(f"(more: --next-token {token})")


def _errors(errors: list[dict[str, Any]]) -> None:
    if errors:
        print("not added:")
        print_rows([("", e.get("target", ""), f"code {e['code']}", e["message"]) for e in errors])


# ----------------------------------------------------------------------------- commands


def create_thread(args: argparse.Namespace, client: AdminClient) -> int:
    answer = client.post(path("admin", "threads"), {"topic": args.topic, "participants": args.participants})
    if args.json:
        print_json(answer)
    else:
        print(answer["chatThread"]["id"])
        _errors(answer["errors"])
    return 1 if answer["errors"] else 0


def list_threads(args: argparse.Namespace, client: AdminClient) -> int:
    pages = _pages(args, client, path("admin", "threads"), startTime=args.since)
    if args.json:
        print_json(pages if args.all else pages[0])
        return 0
    print_rows(
        [(t["id"], t.get("lastMessageReceivedOn") or "", t.get("topic") or "") for page in pages for t in page["items"]]
    )
    _tail(pages)
    return 0


def show_thread(args: argparse.Namespace, client: AdminClient) -> int:
    answer = client.get(_route(args.thread))
    if args.json:
        print_json(answer)
    else:
        print_rows([("", f"{key}:", value) for key, value in answer.items()])
    return 0


def send_message(args: argparse.Namespace, client: AdminClient) -> int:
    body = {
        "content": args.text,
        "sender": args.sender,
        "type": args.type,
        "senderDisplayName": args.name,
        "metadata": _metadata(args.meta),
    }
    answer = client.post(_route(args.thread, "messages"), {k: v for k, v in body.items() if v is not None})
    if args.json:
        print_json(answer)
    else:
        print(answer["id"])
    return 0


def _line(message: dict[str, Any]) -> tuple[str, ...]:
    when = message["createdOn"]
    kind = message["type"]
    content = message.get("content") or {}
    if message.get("deleted"):
        text = "(deleted)"
    elif kind in ("text", "custom") or content.get("message") is not None:
        text = content.get("message") or ""
    else:
        who = ", ".join(p["identifier"] for p in content.get("participants") or [])
        text = " ".join(filter(None, [f"[{kind}]", who, content.get("topic") or ""]))
    marks = [mark for mark, key in (("edited", "editedOn"),) if message.get(key)]
    if message.get("metadata"):
        marks.append(json.dumps(message["metadata"], ensure_ascii=False))
    sender = message.get("senderDisplayName") or message.get("sender") or ""
    return when, sender, text + (f"  ({'; '.join(marks)})" if marks else ""), message["id"]


def list_messages(args: argparse.Namespace, client: AdminClient) -> int:
    pages = _pages(args, client, _route(args.thread, "messages"), startTime=args.since)
    if args.json:
        print_json(pages if args.all else pages[0])
        return 0
    print(f"(read from {pages[0]['source']})")
    # A chat log reads oldest first; the pages come newest first.
    print_rows([_line(m) for page in reversed(pages) for m in reversed(page["items"])])
    _tail(pages)
    return 0


def edit_message(args: argparse.Namespace, client: AdminClient) -> int:
    body = {"content": args.text, "metadata": _metadata(args.meta)}
    if not any(v is not None for v in body.values()):
        raise CliError("give the new TEXT, --meta, or both")
    client.put(_route(args.thread, "messages", args.message), {k: v for k, v in body.items() if v is not None})
    if not args.json:
        print(f"edited {args.message}")
    return 0


def delete_one_message(args: argparse.Namespace, client: AdminClient) -> int:
    client.delete(_route(args.thread, "messages", args.message))
    if not args.json:
        print(f"deleted {args.message}")
    return 0


def send_read_receipt(args: argparse.Namespace, client: AdminClient) -> int:
    client.post(_route(args.thread, "readReceipts"), {"messageId": args.message, "reader": args.reader})
    if not args.json:
        print(f"{args.reader} read {args.message}")
    return 0


def list_receipts(args: argparse.Namespace, client: AdminClient) -> int:
    answer = client.get(_route(args.thread, "readReceipts"))
    if args.json:
        print_json(answer)
    else:
        print_rows([(r["sender"], r["chatMessageId"], r.get("readOn") or "") for r in answer["items"]])
    return 0


def add_participants(args: argparse.Namespace, client: AdminClient) -> int:
    answer = client.post(_route(args.thread, "participants"), {"participants": args.participants})
    if args.json:
        print_json(answer)
    else:
        print(f"added: {', '.join(answer['added']) or 'nobody'}")
        _errors(answer["errors"])
    return 1 if answer["errors"] else 0


def remove_participant(args: argparse.Namespace, client: AdminClient) -> int:
    client.delete(_route(args.thread, "participants", args.user))
    if not args.json:
        print(f"removed {args.user}")
    return 0


def list_participants(args: argparse.Namespace, client: AdminClient) -> int:
    pages = _pages(args, client, _route(args.thread, "participants"))
    if args.json:
        print_json(pages if args.all else pages[0])
        return 0
    print_rows([(p["identifier"], p.get("role") or "") for page in pages for p in page["items"]])
    _tail(pages)
    return 0


def send_typing(args: argparse.Namespace, client: AdminClient) -> int:
    client.post(_route(args.thread, "typing"), {"sender": args.sender})
    if not args.json:
        print(f"{args.sender} is typing")
    return 0


def delete_thread(args: argparse.Namespace, client: AdminClient) -> int:
    client.delete(_route(args.thread))
    if not args.json:
        print(f"deleted {args.thread}")
    return 0
