"""timctl's entry point: global options, the commands, and exit codes.

Exit codes: 0 done; 1 done, but some recipients, users or groups failed; 2 a usage error or an
API 4xx; 3 an API 5xx or no answer; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit

from timctl import bots, broadcast, callback, commands, history, threads
from timctl.client import DEFAULT_API, AdminClient, CliError

INTERRUPTED = broadcast.INTERRUPTED


def _global_options(top: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name. Only the top-level parser has
    defaults: a subcommand's parser would otherwise overwrite what was given before its name."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--api",
        metavar="URL",
        default=default(os.environ.get("TIMCTL_API") or DEFAULT_API),
        help=f"the API's base URL (env TIMCTL_API; default {DEFAULT_API}), "
        "e.g. https://<id>.execute-api.<region>.amazonaws.com",
    )
    group.add_argument(
        "--sigv4",
        action=argparse.BooleanOptionalAction,
        default=default(None),
        help="sign admin calls with AWS SigV4 from the default credential chain "
        "(default: unless the API is on this machine)",
    )
    group.add_argument(
        "--region", default=default(None), help="the region to sign for (default: the API's, else the AWS config's)"
    )
    group.add_argument(
        "--idempotency-key",
        metavar="KEY",
        default=default(None),
        help="the POST's or PUT's Idempotency-Key (default: a fresh UUID; repeat a call with its key to do it once)",
    )
    group.add_argument("--json", action="store_true", default=default(False), help="print the API's JSON answers")
    group.add_argument(
        "-v", "--verbose", action="store_true", default=default(False), help="show requests and Idempotency-Keys"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timctl",
        parents=[_global_options(top=True)],
        description="The timkit admin API from the command line: bot friends and configurations, robots, messages, "
        "broadcasts, chat threads, history; and signed test callbacks.",
        epilog="Exit codes: 0 done, 1 some recipients/users/groups failed, 2 usage error or API 4xx, "
        "3 API 5xx or unreachable, 130 interrupted.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _global_options(top=False)
    commands.register(subcommands, common)
    bots.register(subcommands, common)
    broadcast.register(subcommands, common)
    callback.register(subcommands, common)
    threads.register(subcommands, common)
    history.register(subcommands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if urlsplit(args.api).scheme not in ("http", "https") or not urlsplit(args.api).hostname:
        parser.error(f"--api {args.api}: give a URL such as {DEFAULT_API}")
    client = AdminClient(args.api, args.sigv4, args.region, args.idempotency_key, args.verbose)
    try:
        code: int = args.func(args, client)
        return code
    except CliError as exc:
        print(f"timctl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # `timctl ... | head`: the reader has gone. Python's flush at exit must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
