"""`make run`: the whole bundle on this machine, no AWS account, Docker or Tencent account needed.

    .venv/bin/python -m local [--api-port 3000] [--aws-port 5001] [--tim-port 3001] [--state-file PATH]
                              [--env NAME=VALUE]

Ctrl-C (or SIGTERM) stops everything.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

from local.model_server import DEFAULT_PORT as MODEL_DEFAULT_PORT
from local.send_sample import CALLBACK_PATH, DEFAULT_URL, sample_body
from local.stack import LocalStack
from local.template import TEMPLATE_PATH
from local.tim_emulator.config import DEFAULT_PORT as TIM_DEFAULT_PORT
from local.tim_emulator.send import DEFAULT_URL as TIM_DEFAULT_URL
from local.ws_chat import DEFAULT_URL as WS_DEFAULT_URL
from local.ws_chat import DEFAULT_WS_PORT as WS_DEFAULT_PORT
from timkit.tim.callback_auth import callback_query

log = logging.getLogger("local")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n")[0])
    parser.add_argument("--api-port", type=int, default=3000, help="0 picks a free port")
    parser.add_argument("--aws-port", type=int, default=5001, help="moto's port; 0 picks a free port")
    parser.add_argument(
        "--tim-port", type=int, default=TIM_DEFAULT_PORT, help="the Tencent IM emulator's port; 0 picks a free port"
    )
    parser.add_argument(
        "--model-port",
        type=int,
        default=MODEL_DEFAULT_PORT,
        help="the local model's port (OpenAI-compatible); 0 picks a free port",
    )
    parser.add_argument(
        "--ws-port", type=int, default=WS_DEFAULT_PORT, help="the WebSocket gateway's port; 0 picks a free port"
    )
    parser.add_argument("--state-file", type=Path, help="written once ready (URLs, ids, demo secrets)")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=_env_pair,
        metavar="NAME=VALUE",
        help="extra environment variable for every function (repeatable), e.g. CONFIG_CACHE_SECONDS=0",
    )
    args = parser.parse_args(argv)
    extra_env = dict(args.env)
    logging.basicConfig(level=logging.WARNING, format="local | %(levelname)s %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)

    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        # Only flag it: stopping happens below, outside the signal handler. A second Ctrl-C
        # ends the process at once, should a handler hang the clean stop.
        stopping.set()
        signal.signal(signum, signal.SIG_DFL)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)

    stack = LocalStack(
        template_path=args.template,
        api_port=args.api_port,
        aws_port=args.aws_port,
        tim_port=args.tim_port,
        model_port=args.model_port,
        ws_port=args.ws_port,
        extra_env=extra_env,
    )
    try:
        stack.start()
    except OSError as exc:
        log.error("the local stack did not start: %s (--api-port / --aws-port / --tim-port choose other ports)", exc)
        return 1
    except Exception:
        log.exception("the local stack did not start")
        return 1
    try:
        print(banner(stack), flush=True)
        if args.state_file:
            _write_state(args.state_file, stack.state())
        # Timed: the kernel may hand SIGINT to any thread, and Python runs its handler only once the
        # main thread runs again; an untimed wait would never see it.
        while not stopping.wait(0.5):
            pass
        print("stopping the local stack...", file=sys.stderr, flush=True)
    finally:
        stack.stop()
        if args.state_file:
            args.state_file.unlink(missing_ok=True)
    return 0


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _write_state(path: Path, state: dict[str, object]) -> None:
    # Written whole then renamed, so a reader never sees half a file; 0600 as it may hold secrets.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2)
    tmp.replace(path)


def _mask(value: str, variable: str) -> str:
    return f"{'*' * 8} (from ${variable}, {len(value)} characters)"


def banner(stack: LocalStack) -> str:
    config = stack.config
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    url_arg = "" if stack.api_url == DEFAULT_URL else f" --url {stack.api_url}"
    if config.callback_token_from_env:
        token_shown, token_shell = _mask(config.callback_token, "TIM_CALLBACK_TOKEN"), '"$TIM_CALLBACK_TOKEN"'
    else:
        token_shown, token_shell = f"{config.callback_token}  (local demo value)", shlex.quote(config.callback_token)
    key_shown = (
        _mask(config.secret_key, "TIM_SECRET_KEY")
        if config.secret_key_from_env
        else f"{config.secret_key}  (generated for this run; TIM_SECRET_KEY sets your own)"
    )
    body = sample_body("c2c", "well darn, the local stack works", 1_730_000_000)
    query = urlencode(callback_query(config.sdkappid, body["CallbackCommand"]))
    curl = (
        f"T=$(date +%s); S=$(printf '%s%s' {token_shell} \"$T\" | sha256sum | cut -d' ' -f1); "
        f'curl -sS -X POST "{stack.api_url}{CALLBACK_PATH}?{query}&RequestTime=$T&Sign=$S" '
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body, separators=(',', ':')))}"
    )
    resources = "\n".join(f"    {lid:<24} {pid}" for lid, pid in sorted(stack.resources.items()))
    tim_url_arg = "" if stack.tim_api_base == TIM_DEFAULT_URL else f" --url {stack.tim_api_base}"
    ws_line = ws_chat = ""
    if stack.ws_url is not None:
        ws_line = f'  WebSocket gateway  {stack.ws_url}?token=<UserSig>   (JSON frames; README "WebSocket gateway")\n'
        ws_url_arg = "" if stack.ws_url == WS_DEFAULT_URL else f" --url {stack.ws_url}"
        ws_chat = (
            "Chat over the WebSocket gateway as alice (another terminal: --as bob), frames in and out shown:\n"
            f"  {python} -m local.ws_chat --as alice{ws_url_arg}\n\n"
        )
    return f"""
Local stack ready.
  API                {stack.api_url}   (callback URL: POST {stack.api_url}{CALLBACK_PATH})
  Tencent IM         {stack.tim_api_base}   (emulator, the functions' TIM_API_BASE; admin {config.admin_identifier})
                     users alice, bob, carol, robot @RBT#assistant, group @TGS#demo: GET /_emulator/state
  Local model        {stack.model_url}/v1   (OpenAI-compatible; the demo bot @RBT#assistant answers with it)
{ws_line}  AWS (moto)         {stack.aws_endpoint}   (aws --endpoint-url {stack.aws_endpoint} --region us-east-1 ...)
  Functions          each in worker processes of its own: GET {stack.api_url}/_local/functions
  Admin API          {stack.api_url}/admin/swagger   (AWS_IAM routes: not signature-checked locally,
                     admitted from loopback only; OpenAPI at /admin/openapi.json)
  SDKAppID           {config.sdkappid}
  Callback token     {token_shown}
  Secret key         {key_shown}
  Policy file        {config.policy_file}
  Resources (from {stack.template_path.name}):
{resources}

Make a simulated user send a message: the emulator calls {CALLBACK_PATH}, the policy masks "darn",
the message is delivered rewritten and the after-send callback is archived:
  {python} -m local.tim_emulator.send c2c alice bob "well darn it"{tim_url_arg}

Or send a signed C2C before-send callback yourself (signed when run, so it works whenever you paste it);
the answer shows "darn" masked by the policy:
  {python} -m local.send_sample c2c "well darn, the local stack works"{url_arg}
  {python} -m local.send_sample group "what the heck"{url_arg}
or with curl:
  {curl}

Chat with the demo bot as alice and watch the answer stream in (Ctrl-C interrupts it; --group
@TGS#demo asks in the group with an @-mention; `timctl bots config set` points the bot elsewhere):
  {python} -m local.chat '@RBT#assistant' --as alice "what can you do?"{tim_url_arg}

{ws_chat}Drive the admin API with timctl (.venv/bin/timctl), e.g. a broadcast to the demo group, watched:
  .venv/bin/timctl --api {stack.api_url} broadcast create --groups @TGS#demo --text "maintenance at 22:00" --watch

Every processed callback goes to the event bus {stack.resources.get("EventBus", "(none)")}; the template's
example rule sends group messages to EventExampleFunction, which logs them ("timkit event") here:
  {python} -m local.tim_emulator.send group alice @TGS#demo "hello, bus"{tim_url_arg}

Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
