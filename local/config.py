"""The local stack's seeded configuration: demo values, overridable from the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local.tim_emulator.config import DEFAULT_ADMIN

DEMO_SDKAPPID = 1400000001
# A local fake, safe to print and commit: it only ever opens the local stack.
DEMO_CALLBACK_TOKEN = "local-demo-token-not-secret"  # noqa: S105
DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policy.json"


@dataclass(frozen=True)
class LocalConfig:
    sdkappid: int
    secret_key: str
    callback_token: str
    policy_file: Path
    # The app admin the functions call the REST API as: by default the one the emulator knows.
    admin_identifier: str = DEFAULT_ADMIN
    # Values from the environment may be real ones: they are never printed in full. Without
    # TIM_SECRET_KEY the key is a fresh random one for each run, shaped as Tencent's (64 hex
    # characters): a fixed key in the repository would be a key anyone knows, the very thing the
    # functions refuse (timkit.keys).
    secret_key_from_env: bool = False
    callback_token_from_env: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LocalConfig:
        return cls(
            sdkappid=int(environ.get("TIM_SDKAPPID") or DEMO_SDKAPPID),
            secret_key=environ.get("TIM_SECRET_KEY") or secrets.token_hex(32),
            callback_token=environ.get("TIM_CALLBACK_TOKEN") or DEMO_CALLBACK_TOKEN,
            policy_file=Path(environ.get("TIM_POLICY_FILE") or DEFAULT_POLICY_FILE).resolve(),
            admin_identifier=environ.get("TIM_ADMIN_IDENTIFIER") or DEFAULT_ADMIN,
            secret_key_from_env=bool(environ.get("TIM_SECRET_KEY")),
            callback_token_from_env=bool(environ.get("TIM_CALLBACK_TOKEN")),
        )
