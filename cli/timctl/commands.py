"""`friends`, `robots` and `send`: one admin API call each (a long user list: one per 5000)."""

from __future__ import annotations

import argparse
from typing import Any

from timctl.client import AdminClient, CliError, path
from timctl.message import add_message_arguments, add_schedule_arguments, outgoing, read_lines, schedule
from timctl.output import print_json, print_rows


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    friends = commands.add_parser("friends", parents=[common], help="make users friends of an @RBT# bot")
    friends_commands = friends.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = friends_commands.add_parser(
        "add",
        parents=[common],
        help="add users as friends of a bot (both ways; already friends counts as success)",
        description="Adds users as friends of an @RBT# chatbot account, both ways (users cannot add a bot "
        "themselves). Exits 1 when any user failed.",
    )
    add.add_argument("bot", metavar="BOT", help="the bot's robot ID, e.g. @RBT#helper")
    add.add_argument("users", metavar="USER", nargs="*", help="user IDs")
    add.add_argument("--users-file", metavar="FILE", help="user IDs, one a line ('-': stdin)")
    add_schedule_arguments(add, "add them")
    add.set_defaults(func=friends_add, parser=add)

    robots = commands.add_parser("robots", parents=[common], help="create, list and delete @RBT# robots")
    robots_commands = robots.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = robots_commands.add_parser("create", parents=[common], help="create a robot account")
    create.add_argument("robot_id", metavar="ID", help="the robot ID, starting with @RBT#")
    create.add_argument("--nick", help="its nickname")
    create.add_argument("--face-url", metavar="URL", help="its avatar URL")
    create.set_defaults(func=robots_create)
    robots_commands.add_parser("list", parents=[common], help="list the app's robots").set_defaults(func=robots_list)
    delete = robots_commands.add_parser("delete", parents=[common], help="delete a robot account")
    delete.add_argument("robot_id", metavar="ID", help="the robot ID, starting with @RBT#")
    delete.set_defaults(func=robots_delete)

    send = commands.add_parser(
        "send",
        parents=[common],
        help="send a message to a user, many users or a group",
        description="Sends one message and prints the result for each recipient. Exits 1 when any failed. "
        "With --at or --cron, schedules it instead: a job `timctl jobs` shows.",
    )
    to = send.add_argument_group("recipient").add_mutually_exclusive_group(required=True)
    to.add_argument("--to-user", metavar="USER", help="one user")
    to.add_argument("--to-users", metavar="USER", nargs="+", help="many users (500 per Tencent call)")
    to.add_argument("--to-group", metavar="GROUP", help="one group")
    add_message_arguments(send)
    add_schedule_arguments(send, "send")
    send.set_defaults(func=send_message, parser=send)


# ----------------------------------------------------------------------------- friends


def friends_add(args: argparse.Namespace, client: AdminClient) -> int:
    from timkit.models.admin import MAX_BOT_FRIENDS_PER_REQUEST

    users = list(args.users) + (read_lines(args.users_file) if args.users_file else [])
    if not users:
        raise CliError("give the user IDs, or --users-file")
    users = list(dict.fromkeys(users))  # the API refuses a list naming a user twice
    chunks = [users[i : i + MAX_BOT_FRIENDS_PER_REQUEST] for i in range(0, len(users), MAX_BOT_FRIENDS_PER_REQUEST)]
    when = schedule(args)
    total: dict[str, Any] = {"botId": args.bot, "added": 0, "already": 0, "failed": 0, "results": []}
    jobs = []
    for number, chunk in enumerate(chunks, 1):
        # One request per chunk, so one key each: derived from --idempotency-key when there is one.
        key = f"{client.idempotency_key}-{number}" if client.idempotency_key and len(chunks) > 1 else None
        body = {"userIds": chunk, **({"schedule": when} if when else {})}
        answer = client.post(path("admin", "bots", args.bot, "friends"), body, idempotency_key=key)
        if when:
            jobs.append(answer)
            continue
        for count in ("added", "already", "failed"):
            total[count] += answer[count]
        total["results"].extend(answer["results"])
    if when:
        return _scheduled(args, jobs)
    if args.json:
        print_json(total)
    else:
        print(f"{args.bot}: {total['added']} added, {total['already']} already friends, {total['failed']} failed")
        failures = [r for r in total["results"] if r["result"] == "failed"]
        if failures:
            print("failed:")
            print_rows([("", r["userId"], f"code {r.get('code', '')}") for r in failures])
    return 1 if total["failed"] else 0


# ----------------------------------------------------------------------------- robots


def robots_create(args: argparse.Namespace, client: AdminClient) -> int:
    body = {"robotId": args.robot_id, "nick": args.nick, "faceUrl": args.face_url}
    answer = client.post(path("admin", "robots"), {k: v for k, v in body.items() if v is not None})
    if args.json:
        print_json(answer)
    else:
        print(f"created {answer['robotId']}")
    return 0


def robots_list(args: argparse.Namespace, client: AdminClient) -> int:
    answer = client.get(path("admin", "robots"))
    if args.json:
        print_json(answer)
    else:
        for robot in answer["robots"]:
            print(robot)
    return 0


def robots_delete(args: argparse.Namespace, client: AdminClient) -> int:
    client.delete(path("admin", "robots", args.robot_id))
    if not args.json:
        print(f"deleted {args.robot_id}")
    return 0


# ----------------------------------------------------------------------------- messages


def send_message(args: argparse.Namespace, client: AdminClient) -> int:
    request = outgoing(args)
    if args.to_user is not None:
        request["toUser"] = args.to_user
    elif args.to_users is not None:
        request["toUsers"] = list(dict.fromkeys(args.to_users))
    else:
        request["toGroup"] = args.to_group
    if when := schedule(args):
        request["schedule"] = when
    answer = client.post(path("admin", "messages"), request)
    if when:
        return _scheduled(args, [answer])
    if args.json:
        print_json(answer)
    else:
        print_rows([_send_row(result) for result in answer["results"]])
        print(f"{answer['sent']} sent, {answer['failed']} failed")
    return 1 if answer["failed"] else 0


def _send_row(result: dict[str, Any]) -> tuple[str, ...]:
    if result["result"] == "sent":
        detail = f"msgKey {result['msgKey']}" if result.get("msgKey") else f"msgSeq {result.get('msgSeq', '')}"
    else:
        detail = " ".join(filter(None, [f"code {result['code']}" if result.get("code") else "", result.get("info")]))
    return result["result"], result["recipient"], detail


def _scheduled(args: argparse.Namespace, jobs: list[dict[str, Any]]) -> int:
    """What a scheduled send or friends add printed: its job(s), as `broadcast create` prints one."""
    if args.json:
        print_json(jobs[0] if len(jobs) == 1 else jobs)
    else:
        for job in jobs:
            print(f"{job['kind']} job {job['jobId']} scheduled: next run {job.get('nextRun', '?')}")
    return 0
