"""`--stack NAME`: the admin API's URL, the region and the policy's place, from a deployed stack's outputs.

The outputs are template.yaml's: AdminApiUrl, PolicySource (the functions' POLICY_SOURCE), and
CallbackSecretArn (where a ``secret:`` policy lives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from timctl.client import CliError

ADMIN_API_URL = "AdminApiUrl"
POLICY_SOURCE = "PolicySource"
POLICY_PARAMETER = "PolicyParameterName"
CALLBACK_SECRET = "CallbackSecretArn"  # noqa: S105 - an output's name
_STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:([a-z0-9-]+):")


@dataclass(frozen=True)
class Stack:
    name: str
    region: str
    outputs: dict[str, str]

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise CliError(f"stack {self.name} ({self.region}) has no {key} output: is it a timkit stack, up to date?")
        return value


def describe(name: str, region: str | None) -> Stack:
    """The stack's outputs, from CloudFormation in ``region``: the given one, the stack ARN's, else
    the AWS configuration's."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    arn = _STACK_ARN.match(name)
    region = region or (arn.group(1) if arn else None) or boto3.Session().region_name
    if not region:
        raise CliError(f"--stack {name}: no AWS region to look for it in: pass --region or set AWS_REGION")
    try:
        stacks: list[dict[str, Any]] = boto3.client("cloudformation", region_name=region).describe_stacks(
            StackName=name
        )["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message")):
            raise CliError(f"--stack {name}: no such stack in {region}") from None
        raise CliError(f"--stack {name}: {error.get('Message') or exc}") from None
    except BotoCoreError as exc:  # no credentials, a missing profile, no connection...
        raise CliError(f"--stack {name}: {exc}") from None
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs") or []}
    return Stack(name, region, outputs)
