"""moto in the test's own process: no way out to real AWS, the gaps local.moto_patches closes, and
tables made as template.yaml declares them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.cfn_yaml import load_template
from local.moto_patches import patch_moto

ROOT = Path(__file__).resolve().parents[1]
_FAKE = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextmanager
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    patch_moto()
    for name, value in _FAKE.items():
        monkeypatch.setenv(name, value)
    # Either would send boto3 elsewhere than moto.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def template_table(logical_id: str, name: str) -> dict[str, Any]:
    """Creates table ``name`` with the keys and indexes template.yaml gives ``logical_id``; its properties."""
    properties = load_template(ROOT / "template.yaml")["Resources"][logical_id]["Properties"]
    indexes = {k: v for k, v in properties.items() if k == "GlobalSecondaryIndexes"}
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties["BillingMode"],
        **indexes,
    )
    return properties
