"""A local Tencent IM service: the REST API, its limits and faults, and the callbacks it makes.

    from local.tim_emulator import Identity, TimEmulator
    with TimEmulator(Identity(sdkappid, secret_key), port=0) as emulator:
        ...  # REST at f"{emulator.url}/v4/...", control at f"{emulator.url}/_emulator/..."

Modules: :mod:`.server` (HTTP, authentication, faults), :mod:`.service` (state and rules),
:mod:`.callbacks` (calling the app's callback URL), :mod:`.codes` (every error code and the
choices made where the protocol reference is silent), :mod:`.config` (settings, clock),
:mod:`.control` (a Python client of the control API), :mod:`.send` (the command line), and the
REST APIs of their own domain: :mod:`.groups` (groups as threads) and :mod:`.history` (recall,
history, read receipts and read marks).
"""

# groups and history register the REST APIs they serve with the service when imported.
from local.tim_emulator import groups, history  # noqa: F401
from local.tim_emulator.config import FakeClock, FaultRule, Identity, Settings
from local.tim_emulator.server import TimEmulator
from local.tim_emulator.service import DEMO_SEED, Seed, SeedGroup

__all__ = ["DEMO_SEED", "FakeClock", "FaultRule", "Identity", "Seed", "SeedGroup", "Settings", "TimEmulator"]
