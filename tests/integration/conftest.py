"""Fixtures of the integration tests: the admin API's handler loaded against moto and the Tencent IM
emulator (a module that needs another emulator defines its own)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType

import boto3
import pytest

from local.tim_emulator import Identity, Seed, Settings, TimEmulator
from tests.handlers import SCHEDULER, load_handler
from tests.integration.admin_harness import APP, BOT, BOT_STATE, KEY
from tests.moto_env import offline_aws, template_table


@pytest.fixture(scope="module")
def emulator() -> Iterator[TimEmulator]:
    with TimEmulator(Identity(APP, KEY), Settings(), port=0, seed=Seed(robots=(BOT,))) as running:
        yield running


@pytest.fixture(scope="module")
def api(emulator: TimEmulator) -> Iterator[ModuleType]:
    env = {
        "TIM_SDKAPPID": str(APP),
        "JOBS_TABLE": "jobs",
        "RATE_TABLE": "rates",
        "BOT_STATE_TABLE": BOT_STATE,
        "IDEMPOTENCY_TABLE": "idempotency",
        "ARCHIVE_TABLE": "archive",
        "TIM_API_BASE": emulator.url,
        "BROADCAST_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/broadcast",
        "POWERTOOLS_SERVICE_NAME": "tim-admin-api",
        **SCHEDULER,
    }
    with pytest.MonkeyPatch.context() as patch, offline_aws(patch):
        secret = boto3.client("secretsmanager").create_secret(Name="key", SecretString=json.dumps({"secret_key": KEY}))
        patch.setenv("TIM_SECRET_ID", secret["ARN"])
        for name, value in env.items():
            patch.setenv(name, value)
        for logical_id, name in [
            ("JobsTable", "jobs"),
            ("RateTable", "rates"),
            ("BotStateTable", BOT_STATE),
            ("IdempotencyTable", "idempotency"),
            ("ArchiveTable", "archive"),
        ]:
            template_table(logical_id, name)
        with load_handler("admin_api", "it_admin_api_app") as module:
            yield module


@pytest.fixture
def faultless(emulator: TimEmulator) -> Iterator[TimEmulator]:
    yield emulator
    emulator.configure(faults=[])
