"""`broadcast`: create (now, at a time, on a cron schedule), list, get, cancel and watch jobs; `jobs`:
list, get, cancel and watch every kind of job (broadcasts, scheduled messages and bot friends) the same way."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from timctl.client import AdminClient, CliError, path
from timctl.message import add_message_arguments, add_schedule_arguments, outgoing, read_lines, schedule
from timctl.output import duration, print_json, print_rows

POLL_INTERVAL_S = 1.0
GROUPS_PAGE = 500  # the API's largest page
FINAL_STATES = ("done", "cancelled")
# The exit status of a process stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
# The rate shown is over about this much of the latest polls: it follows a change (Tencent's limits,
# a retry wave) within a few polls, and is steady between them.
RATE_WINDOW_S = 30.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    broadcast = commands.add_parser("broadcast", parents=[common], help="send one message to many groups")
    actions = broadcast.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        parents=[common],
        help="start a broadcast, now or on a schedule",
        description="Sends one message to many groups under Tencent's rate limits, as a job: now, once at a "
        "time (--at) or on every firing of an EventBridge cron expression (--cron).",
    )
    targets = create.add_argument_group("groups").add_mutually_exclusive_group(required=True)
    targets.add_argument("--groups", metavar="GROUP", nargs="+", help="group IDs")
    targets.add_argument("--groups-file", metavar="FILE", help="group IDs, one a line ('-': stdin)")
    targets.add_argument("--all-groups", action="store_true", help="every group of the app")
    add_message_arguments(create)
    add_schedule_arguments(create, "send")
    create.add_argument("--watch", action="store_true", help="then watch it until it is done (see `watch`)")
    create.add_argument("--interval", type=float, default=POLL_INTERVAL_S, help=argparse.SUPPRESS)
    create.set_defaults(func=create_broadcast, parser=create)

    _job_commands(actions, common, "broadcast", "broadcasts")
    jobs = commands.add_parser(
        "jobs", parents=[common], help="scheduled jobs of every kind: broadcasts, messages, bot friends"
    )
    _job_commands(jobs.add_subparsers(dest="action", required=True, metavar="ACTION"), common, "job", "jobs")


def _job_commands(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser, noun: str, route: str
) -> None:
    """list, get, cancel and watch, over /admin/<route> (/admin/broadcasts and /admin/jobs show the same jobs)."""
    listing = actions.add_parser("list", parents=[common], help=f"list {noun}s, newest first")
    listing.add_argument("--limit", type=int, default=50, help="how many (default 50, at most 500)")
    listing.add_argument("--next-token", metavar="TOKEN", help="the page after the one that printed it")
    listing.set_defaults(func=list_broadcasts, route=route, noun=noun)

    get = actions.add_parser("get", parents=[common], help=f"show a {noun}'s state and progress")
    get.add_argument("job_id", metavar="JOB")
    get.add_argument("--groups", action="store_true", help="list every group with its state and Tencent's answer")
    get.set_defaults(func=get_broadcast, route=route)

    cancel = actions.add_parser(
        "cancel",
        parents=[common],
        help=f"cancel a {noun} (pending sends; a cron schedule)",
        description="Cancels the sends still pending and removes the schedule; sends under way finish.",
    )
    cancel.add_argument("job_id", metavar="JOB")
    cancel.set_defaults(func=cancel_broadcast, route=route, noun=noun)

    watch = actions.add_parser(
        "watch",
        parents=[common],
        help=f"follow a {noun}'s progress until it is done",
        description="Polls the job every second and draws its progress on stderr (one line per poll when "
        "stderr is not a terminal) until it is done or cancelled. Exits 0 when every group was sent, 1 when "
        "some failed or the job was cancelled, 130 on Ctrl-C (the job keeps running).",
    )
    watch.add_argument("job_id", metavar="JOB")
    watch.add_argument(
        "--interval", type=float, default=POLL_INTERVAL_S, help=f"seconds between polls (default {POLL_INTERVAL_S:g})"
    )
    watch.set_defaults(func=watch_broadcast, route=route)


# ----------------------------------------------------------------------------- commands


def create_broadcast(args: argparse.Namespace, client: AdminClient) -> int:
    if args.watch and args.cron:
        args.parser.error("--watch follows one run: a --cron broadcast's runs are jobs of their own")
    request = outgoing(args)
    if args.all_groups:
        request["allGroups"] = True
    else:
        groups = args.groups or read_lines(args.groups_file)
        if not groups:
            raise CliError(f"{args.groups_file} names no group")
        request["groupIds"] = list(dict.fromkeys(groups))
    if when := schedule(args):
        request["schedule"] = when
    job = client.post(path("admin", "broadcasts"), request)
    if args.json:
        print_json(job)
    elif job["state"] == "scheduled":
        print(f"broadcast {job['jobId']} scheduled: next run {job.get('nextRun', '?')}")
    else:
        # The job's total counts groups as it plans them: at first it may be 0.
        groups = "all groups" if args.all_groups else f"{len(request['groupIds'])} groups"
        print(f"broadcast {job['jobId']} accepted: {job['state']}, {groups}")
    if args.watch:
        return watch(client, job["jobId"], args.interval, args.json)
    return 0


def list_broadcasts(args: argparse.Namespace, client: AdminClient) -> int:
    answer = client.get(path("admin", args.route), limit=args.limit, nextToken=args.next_token)
    if args.json:
        print_json(answer)
        return 0
    rows = [
        (
            job["jobId"],
            job.get("kind", "broadcast"),
            job["state"],
            job["createdAt"],
            job["progress"]["total"],
            job["progress"]["sent"],
            job["progress"]["failed"],
            _schedule_text(job),
        )
        for job in answer["jobs"]
    ]
    print_rows(rows, ("JOB", "KIND", "STATE", "CREATED", "TARGETS", "SENT", "FAILED", "SCHEDULE"))
    if answer.get("nextToken"):
        print(f"more: timctl {args.noun} list --next-token {shlex.quote(answer['nextToken'])}", file=sys.stderr)
    return 0


def get_broadcast(args: argparse.Namespace, client: AdminClient) -> int:
    route = path("admin", args.route, args.job_id)
    if not args.groups:
        job = client.get(route)
        if args.json:
            print_json(job)
        else:
            _print_job(job)
        return 0
    job = client.get(route, limit=GROUPS_PAGE)
    groups = list(job["groups"])
    while job.get("nextToken"):
        job = client.get(route, limit=GROUPS_PAGE, nextToken=job["nextToken"])
        groups.extend(job["groups"])
    job = {**job, "groups": groups}
    job.pop("nextToken", None)
    if args.json:
        print_json(job)
        return 0
    _print_job(job)
    print()
    print_rows(
        [
            (g["groupId"], g["state"], g.get("attempts", 0), g.get("code", ""), g.get("msgSeq", ""), g.get("info", ""))
            for g in groups
        ],
        ("GROUP", "STATE", "ATTEMPTS", "CODE", "MSGSEQ", "INFO"),
    )
    return 0


def cancel_broadcast(args: argparse.Namespace, client: AdminClient) -> int:
    job = client.post(path("admin", args.route, args.job_id, "cancel"), {})
    if args.json:
        print_json(job)
    else:
        print(f"{job.get('kind', args.noun)} {job['jobId']} {job['state']}: {_counts(job['progress'])}")
    return 0


def watch_broadcast(args: argparse.Namespace, client: AdminClient) -> int:
    return watch(client, args.job_id, args.interval, args.json)


# ----------------------------------------------------------------------------- watching


def watch(client: AdminClient, job_id: str, interval: float, as_json: bool = False) -> int:
    """Polls the job until it is done or cancelled, drawing its progress on stderr."""
    stream = sys.stderr
    bar = stream.isatty()
    route = path("admin", "broadcasts", job_id)
    pace = Pace(monotonic)
    try:
        while True:
            job = client.get(route, limit=1)  # the progress is what counts here, not the groups
            if job.get("schedule", {}).get("cron") and not job.get("parentId"):
                raise CliError(
                    f"{job_id} is a cron broadcast: each run is a job of its own "
                    f"(`timctl broadcast get {job_id}` lists them); watch a run"
                )
            pace.add(_finished(job["progress"]))
            if bar:
                stream.write("\r\x1b[K" + _bar_line(job, shutil.get_terminal_size().columns, pace))
            else:
                stream.write(_plain_line(job, pace) + "\n")
            stream.flush()
            if job["state"] in FINAL_STATES:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        stream.write(
            ("\n" if bar else "")
            + f"stopped watching; broadcast {job_id} keeps running (stop it: timctl broadcast cancel {job_id})\n"
        )
        return INTERRUPTED
    if bar:
        stream.write("\n")
    progress = job["progress"]
    if as_json:
        print_json(job)
    else:
        print(f"broadcast {job_id} {job['state']}: {_counts(progress)}")
        if progress["failedCodes"]:
            print(f"failed codes: {_codes(progress['failedCodes'])} (see: timctl broadcast get {job_id} --groups)")
    return 0 if job["state"] == "done" and not progress["failed"] else 1


class Pace:
    """Groups finished per second over the polls of the last RATE_WINDOW_S, and the time left at that rate."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._polls: deque[tuple[float, int]] = deque()

    def add(self, finished: int) -> None:
        now = self._clock()
        self._polls.append((now, finished))
        # The oldest poll kept is the last one at least RATE_WINDOW_S old: the window is always full.
        while len(self._polls) > 2 and now - self._polls[1][0] >= RATE_WINDOW_S:
            self._polls.popleft()

    def rate(self) -> float | None:
        """None until two polls some time apart."""
        (first_at, first), (last_at, last) = self._polls[0], self._polls[-1]
        return (last - first) / (last_at - first_at) if last_at > first_at else None

    def left(self, remaining: int) -> float | None:
        """Seconds until ``remaining`` more are finished; None when nothing moves (or nothing remains)."""
        rate = self.rate()
        return remaining / rate if rate and remaining > 0 else None


def _pace_text(job: dict[str, Any], pace: Pace, plain: bool) -> str:
    rate = pace.rate()
    if rate is None or job["state"] in FINAL_STATES:
        return ""
    left = pace.left(job["progress"]["total"] - _finished(job["progress"]))
    if plain:
        return f" rate={rate:.1f}/s" + (f" left={duration(left)}" if left is not None else "")
    return f"  {rate:.1f}/s" + (f"  {duration(left)} left" if left is not None else "")


def _bar_line(job: dict[str, Any], columns: int, pace: Pace) -> str:
    progress = job["progress"]
    text = f" {_finished(progress)}/{progress['total']}  sent {progress['sent']}  failed {progress['failed']}"
    text += f"  cancelled {progress['cancelled']}  {_state_text(job)}{_pace_text(job, pace, plain=False)}"
    width = max(10, min(40, columns - len(text) - 3))
    total = progress["total"]
    cells, finished = "", 0
    if total:
        # Rounded where each kind ends rather than per kind: a finished job fills the whole bar.
        for key, mark in (("sent", "#"), ("failed", "x"), ("cancelled", "-")):
            start, finished = finished, finished + progress[key]
            cells += mark * (finished * width // total - start * width // total)
    return f"[{cells.ljust(width, '.')}]{text}"


def _plain_line(job: dict[str, Any], pace: Pace) -> str:
    progress = job["progress"]
    return (
        f"{_state_text(job)} {_finished(progress)}/{progress['total']} sent={progress['sent']} "
        f"failed={progress['failed']} cancelled={progress['cancelled']} pending={progress['pending']}"
        + _pace_text(job, pace, plain=True)
    )


def _finished(progress: dict[str, Any]) -> int:
    finished: int = progress["sent"] + progress["failed"] + progress["cancelled"]
    return finished


def _state_text(job: dict[str, Any]) -> str:
    if job["state"] == "scheduled" and job.get("nextRun"):
        return f"scheduled for {job['nextRun']}"
    return str(job["state"])


def _counts(progress: dict[str, Any]) -> str:
    return (
        f"{progress['sent']} sent, {progress['failed']} failed, {progress['cancelled']} cancelled, "
        f"{progress['pending']} pending of {progress['total']}"
    )


def _codes(failed_codes: dict[str, int]) -> str:
    return ", ".join(f"{code} ({count})" for code, count in sorted(failed_codes.items(), key=lambda kv: -kv[1]))


def _schedule_text(job: dict[str, Any]) -> str:
    schedule = job.get("schedule")
    if not schedule:
        return "run of " + job["parentId"] if job.get("parentId") else ""
    when = schedule.get("cron") or f"at {schedule.get('at')}"
    return f"{when} {schedule.get('timezone', 'UTC')}"


def _print_job(job: dict[str, Any]) -> None:
    progress = job["progress"]
    rows: list[tuple[str, Any]] = [
        ("job", job["jobId"]),
        ("kind", job.get("kind", "broadcast")),
        ("state", _state_text(job)),
        ("created", job["createdAt"]),
    ]
    if job.get("parentId"):
        rows.append(("run of", job["parentId"]))
    if job.get("schedule"):
        rows.append(("schedule", _schedule_text(job)))
    if job.get("kind", "broadcast") == "broadcast":
        rows.append(("groups", "all groups of the app" if job["allGroups"] else progress["total"]))
        rows.append(("progress", _counts(progress)))
    elif result := job.get("result"):
        counts = ("sent", "failed") if "sent" in result else ("added", "already", "failed")
        rows.append(("result", ", ".join(f"{result[c]} {c}" for c in counts)))
    if progress["failedCodes"]:
        rows.append(("failed codes", _codes(progress["failedCodes"])))
    if job.get("runs"):
        rows.append(("runs", ", ".join(job["runs"])))
    print_rows(rows)
