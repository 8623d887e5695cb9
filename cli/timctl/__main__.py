"""timctl's entry point: global options, the commands, and exit codes.

Exit codes: 0 done; 1 done, but some recipients, users or groups failed; 2 a usage error or an
API 4xx; 3 an API 5xx or no answer; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from timctl import bots, broadcast, callback, commands, docs, history, policy, stack, threads
from timctl.client import DEFAULT_API, AdminClient, CliError

INTERRUPTED = broadcast.INTERRUPTED


def _global_options(top: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name. Only the top-level parser has
    defaults: a subcommand's parser would otherwise overwrite what was given before its name."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options")
    # No defaults from the environment here: main() applies them, so that --stack on the command line
    # wins over TIMCTL_API and --api over TIMCTL_STACK.
    group.add_argument(
        "--api",
        metavar="URL",
        default=default(None),
        help=f"the API's URL: the stack's AdminApiUrl output, or its base (env TIMCTL_API; default {DEFAULT_API}), "
        "e.g. https://<id>.execute-api.<region>.amazonaws.com/admin",
    )
    group.add_argument(
        "--stack",
        metavar="NAME",
        default=default(None),
        help="a deployed stack's name or ARN (env TIMCTL_STACK): the API, its region and the policy's place "
        "from its outputs (CloudFormation, in --region or your AWS config's)",
    )
    group.add_argument(
        "--sigv4",
        action=argparse.BooleanOptionalAction,
        default=default(None),
        help="sign admin calls with AWS SigV4 from the default credential chain "
        "(default: unless the API is on this machine)",
    )
    group.add_argument(
        "--region",
        default=default(None),
        help="the region to sign for and to find --stack in (default: the stack's or the API's, else the AWS config's)",
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _global_options(top=False)
    commands.register(subcommands, common)
    bots.register(subcommands, common)
    broadcast.register(subcommands, common)
    callback.register(subcommands, common)
    threads.register(subcommands, common)
    history.register(subcommands, common)
    policy.register(subcommands, common)
    docs.register(subcommands, common)
    completion = subcommands.add_parser(
        "completion",
        help="print the shell completion script (bash or zsh)",
        description="Prints a completion script for every timctl command and option. bash: "
        "`timctl completion bash > ~/.local/share/bash-completion/completions/timctl`; zsh: "
        '`timctl completion zsh > "${fpath[1]}/_timctl"` (any folder on $fpath), then start a new shell.',
    )
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(func=print_completion, offline=True)
    return parser


def _version() -> str:
    try:
        return version("timkit")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def print_completion(args: argparse.Namespace, _client: AdminClient) -> int:
    try:
        import shtab
    except ImportError:  # timctl installed without the dev extras
        raise CliError("completion scripts are made with shtab: pip install shtab") from None
    # Generated from the parser itself, so it knows every command and option there is.
    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def _target(args: argparse.Namespace) -> tuple[str, stack.Stack | None]:
    """The API's URL and, with a stack, its outputs: --api, --stack, TIMCTL_API, TIMCTL_STACK, the default."""
    if args.api and args.stack:
        raise CliError("give --api or --stack, not both")
    name = args.stack
    if not (args.api or name or os.environ.get("TIMCTL_API")):
        name = os.environ.get("TIMCTL_STACK")
    if name:
        found = stack.describe(name, args.region)
        return found.output(stack.ADMIN_API_URL), found
    return args.api or os.environ.get("TIMCTL_API") or DEFAULT_API, None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # A command that calls nothing (its parser says offline) does not look the stack up.
        api, args.stack_info = (DEFAULT_API, None) if getattr(args, "offline", False) else _target(args)
    except CliError as exc:
        print(f"timctl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if urlsplit(api).scheme not in ("http", "https") or not urlsplit(api).hostname:
        parser.error(f"--api {api}: give a URL such as {DEFAULT_API}")
    # Signed for the stack's region unless --region says otherwise.
    region = args.region or (args.stack_info.region if args.stack_info else None)
    client = AdminClient(api, args.sigv4, region, args.idempotency_key, args.verbose)
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
