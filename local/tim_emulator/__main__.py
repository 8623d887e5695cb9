"""The Tencent IM emulator on its own (`make run` starts it with the rest of the local stack).

    .venv/bin/python -m local.tim_emulator [--port 3001] [--callback-url URL] [--no-seed]

It uses the local stack's SDKAppID, secret key and callback token (same environment variables,
same defaults: without TIM_SECRET_KEY, a key generated for this run, printed). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from local.config import LocalConfig
from local.tim_emulator import DEMO_SEED, Identity, Settings, TimEmulator
from local.tim_emulator.config import DEFAULT_PORT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.tim_emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--callback-url", help="where callbacks go (none: no callbacks)")
    parser.add_argument("--no-seed", action="store_true", help="start without the demo users, robot and group")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="tim-emulator | %(levelname)s %(message)s", stream=sys.stderr)
    config = LocalConfig.from_env()
    settings = Settings(callback_url=args.callback_url, callback_token=config.callback_token)
    identity = Identity(config.sdkappid, config.secret_key, config.admin_identifier)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        emulator = TimEmulator(identity, settings, port=args.port, seed=None if args.no_seed else DEMO_SEED)
    except OSError as exc:
        print(f"the emulator did not start: {exc} (--port chooses another port)", file=sys.stderr)
        return 1
    with emulator:
        print(f"Tencent IM emulator on {emulator.url} (SDKAppID {identity.sdkappid}, admin {identity.admin})")
        if not config.secret_key_from_env:
            print(f"  key       {config.secret_key}  (generated for this run; TIM_SECRET_KEY sets your own)")
        print(f"  REST      POST {emulator.url}/v4/<service>/<command>?sdkappid=&identifier=&usersig=&random=")
        print(f"  control   {emulator.url}/_emulator/state, /messages, /callbacks, /calls, /config, /reset")
        print(f'  try       {sys.executable} -m local.tim_emulator.send c2c alice bob "hello" --url {emulator.url}')
        sys.stdout.flush()
        stopping.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
