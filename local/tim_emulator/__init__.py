"""A local Tencent IM service: the REST API, its limits and faults, and the callbacks it makes.

    from local.tim_emulator import Identity, TimEmulator
    with TimEmulator(Identity(sdkappid, secret_key), port=0) as emulator:
        ...  # REST at f"{emulator.url}/v4/...", control at f"{emulator.url}/_emulator/..."

It is a referee written from docs/protocol.md and imports nothing from ``timkit``
(tests/emulator/test_independence.py checks it). Modules:

* :mod:`.server`: HTTP, authentication (:mod:`.usersig`), rate limits, faults, the control API;
* :mod:`.rest_api`: the table from every REST path to the function that serves it;
* :mod:`.core`: the shared state (accounts, friends, groups, stored messages, records) and its lock;
* one module per domain, each API a function taking the state first: :mod:`.accounts` (accounts
  and robots), :mod:`.friends`, :mod:`.c2c` (one-to-one sends, batch, modify, stream),
  :mod:`.groups` (groups, members, group info and listings), :mod:`.group_messages` (group sends,
  modify, stream, frequency control), :mod:`.history` (recall, history, read receipts and marks);
* :mod:`.pipeline`: the send steps C2C and group share (before-send, duplicates, modify, streams);
* :mod:`.elements` and :mod:`.checks`: message bodies and field checks; :mod:`.codes`: every
  error code and the choices made where the protocol is silent;
* :mod:`.callbacks` (calling the app's callback URL), :mod:`.config` (settings, clock),
  :mod:`.control` (a Python client of the control API), :mod:`.send` (the command line).
"""

from local.tim_emulator.config import FakeClock, FaultRule, Identity, Settings
from local.tim_emulator.core import DEMO_SEED, Seed, SeedGroup
from local.tim_emulator.server import TimEmulator

__all__ = ["DEMO_SEED", "FakeClock", "FaultRule", "Identity", "Seed", "SeedGroup", "Settings", "TimEmulator"]
