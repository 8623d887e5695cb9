"""moto in server mode, with the template's data resources created by moto's CloudFormation."""

from __future__ import annotations

import copy
import json
import logging
import socket
from functools import cache
from typing import Any, ClassVar

import boto3
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from local.http import listen_error
from local.moto_patches import patch_moto
from local.template import (
    EVENT_BUS_TYPE,
    PSEUDO,
    REGION,
    SCHEDULE_GROUP_TYPE,
    SECRET_TYPE,
    STACK_NAME,
    STACK_TYPES,
    Template,
    Unresolvable,
    references,
)

log = logging.getLogger("local")

# Obviously fake; moto accepts any credentials. Set for the functions too, so no real AWS
# credentials from the developer's environment are ever used by them.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class MotoAws:
    """moto's server in this process.

    moto keeps its state in process-wide backends, shared by every server and ``mock_aws`` in the
    process: one MotoAws may run at a time, and it starts from an empty state.
    """

    _running: ClassVar[MotoAws | None] = None

    def __init__(self, port: int = 5001, host: str = "127.0.0.1") -> None:
        self._host = host
        self._port = port
        self._server: ThreadedMotoServer | None = None
        self.endpoint = ""

    def start(self) -> None:
        if MotoAws._running is not None:
            raise RuntimeError(f"moto already runs in this process at {MotoAws._running.endpoint}")
        # ThreadedMotoServer.start() waits forever if its thread fails to bind: check first.
        _ensure_free(self._host, self._port)
        # werkzeug logs every request (every SQS poll) at INFO.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        patch_moto()
        self._server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._server.start()
        MotoAws._running = self
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # Whatever an earlier server or mock_aws left in the shared backends is not ours.
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        # stop() only ends serve_forever(); the listening socket stays open until closed.
        self._server._server.server_close()  # type: ignore[union-attr]
        self._server = None
        MotoAws._running = None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )


def _ensure_free(host: str, port: int) -> None:
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise listen_error(host, port, exc) from exc


def stack_template(template: Template) -> dict[str, Any]:
    """The transformed template cut down to what moto's CloudFormation can create."""
    resources = {lid: copy.deepcopy(res) for lid, res in template.data_resources.items() if res["Type"] in STACK_TYPES}
    known = set(template.parameters) | set(PSEUDO) | {"AWS::NoValue"}
    while True:
        # A resource pointing at something that is not created here would fail in moto.
        orphans = {
            lid for lid, res in resources.items() if references(res.get("Properties", {})) - known - set(resources)
        }
        if not orphans:
            break
        log.info("not created locally (they reference resources moto cannot create): %s", sorted(orphans))
        for lid in orphans:
            del resources[lid]
    for lid, res in resources.items():
        if res["Type"] == "AWS::SQS::Queue" and (res.get("Properties") or {}).get("FifoQueue") in (True, "true"):
            # CloudFormation names a FIFO queue <stack>-<LogicalId>-<random>.fifo; moto names it like any
            # other queue, and then refuses it for want of the suffix.
            res["Properties"].setdefault("QueueName", f"{STACK_NAME}-{lid}.fifo")
        if res["Type"] == "AWS::SSM::Parameter":
            # moto reads Name from the properties and fails without it instead of generating one
            # (CloudFormation names such parameters CFN-<LogicalId>-<random>).
            res.setdefault("Properties", {}).setdefault("Name", f"CFN-{lid}-local")
        depends = res.pop("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        if kept := [d for d in depends if d in resources]:
            res["DependsOn"] = kept
    # Outputs are left out: physical ids come from describe_stack_resources.
    body = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": template.original.get("Parameters") or {},
        "Resources": resources,
    }
    if template.transformed.get("Conditions"):
        body["Conditions"] = template.transformed["Conditions"]
    return body


def create_resources(aws: MotoAws, template: Template) -> dict[str, str]:
    """Creates the data resources; returns logical id -> physical id (what ``Ref`` gives)."""
    body = stack_template(template)
    cfn = aws.client("cloudformation")
    cfn.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(body),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": ",".join(v) if isinstance(v, list) else v}
            for k, v in template.parameters.items()
        ],
    )
    stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"moto could not create the local stack: {stack.get('StackStatusReason')}")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
    }
    intrinsics = template.intrinsics(ref=lambda name: physical[name])
    for lid, res in template.data_resources.items():
        if res["Type"] == "AWS::DynamoDB::Table" and lid in physical:
            _apply_table_extras(aws, physical[lid], res.get("Properties", {}))
        if res["Type"] == SECRET_TYPE:
            physical[lid] = _create_secret(aws, lid, intrinsics.resolve(res.get("Properties", {})))
        if res["Type"] == SCHEDULE_GROUP_TYPE:
            props = intrinsics.resolve(res.get("Properties", {}))
            # Ref gives the name; CloudFormation makes one up when the template gives none.
            name = props.get("Name") or f"{STACK_NAME}-{lid}"
            aws.client("scheduler").create_schedule_group(Name=name, Tags=props.get("Tags", []))
            physical[lid] = name
        if res["Type"] == EVENT_BUS_TYPE:
            # Ref gives the name (which the bus's properties require).
            name = intrinsics.resolve(res.get("Properties", {}))["Name"]
            aws.client("events").create_event_bus(Name=name)
            physical[lid] = name
    return physical


def _apply_table_extras(aws: MotoAws, table: str, props: dict[str, Any]) -> None:
    # moto's CloudFormation ignores TimeToLiveSpecification; set it so describe_time_to_live is right.
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        aws.client("dynamodb").update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )


_PASSWORD_OPTIONS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def _create_secret(aws: MotoAws, logical_id: str, props: dict[str, Any]) -> str:
    sm = aws.client("secretsmanager")
    args: dict[str, Any] = {"Name": props.get("Name") or f"{STACK_NAME}-{logical_id}"}
    if props.get("Description"):
        args["Description"] = props["Description"]
    if "SecretString" in props:
        args["SecretString"] = props["SecretString"]
    elif gen := props.get("GenerateSecretString"):
        options = {k: gen[k] for k in _PASSWORD_OPTIONS if k in gen}
        password = sm.get_random_password(**options)["RandomPassword"]
        if "SecretStringTemplate" in gen:
            document = json.loads(gen["SecretStringTemplate"])
            document[gen["GenerateStringKey"]] = password
            args["SecretString"] = json.dumps(document)
        else:
            args["SecretString"] = password
    return sm.create_secret(**args)["ARN"]


class Attributes:
    """``Fn::GetAtt`` for the locally created resources, read from moto."""

    def __init__(self, aws: MotoAws, template: Template, physical: dict[str, str]) -> None:
        self._aws = aws
        self._types = {lid: res["Type"] for lid, res in template.transformed["Resources"].items()}
        self._physical = physical

    @cache  # noqa: B019 - one instance per stack, resources never change
    def __call__(self, logical_id: str, attribute: str) -> Any:
        kind, pid = self._types.get(logical_id), self._physical.get(logical_id)
        if pid is None:
            raise Unresolvable(f"Fn::GetAtt {logical_id}.{attribute}: {logical_id} is not created locally")
        if kind == "AWS::SQS::Queue":
            if attribute == "Arn":
                attrs = self._aws.client("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"])
                return attrs["Attributes"]["QueueArn"]
            if attribute in ("QueueName", "QueueUrl"):
                return pid.rsplit("/", 1)[1] if attribute == "QueueName" else pid
        if kind == "AWS::DynamoDB::Table" and attribute in ("Arn", "StreamArn"):
            table = self._aws.client("dynamodb").describe_table(TableName=pid)["Table"]
            return table["TableArn"] if attribute == "Arn" else table["LatestStreamArn"]
        if kind == "AWS::SNS::Topic" and attribute in ("TopicArn", "TopicName"):
            return pid if attribute == "TopicArn" else pid.rsplit(":", 1)[1]
        if kind == "AWS::S3::Bucket":
            simple = {
                "Arn": f"arn:aws:s3:::{pid}",
                "DomainName": f"{pid}.s3.amazonaws.com",
                "RegionalDomainName": f"{pid}.s3.{REGION}.amazonaws.com",
            }
            if attribute in simple:
                return simple[attribute]
        if kind == "AWS::SSM::Parameter" and attribute in ("Type", "Value"):
            return self._aws.client("ssm").get_parameter(Name=pid)["Parameter"][attribute]
        if kind == EVENT_BUS_TYPE and attribute in ("Arn", "Name"):
            return pid if attribute == "Name" else f"arn:aws:events:{REGION}:{PSEUDO['AWS::AccountId']}:event-bus/{pid}"
        if kind == "AWS::KMS::Key" and attribute in ("Arn", "KeyId"):
            return self._aws.client("kms").describe_key(KeyId=pid)["KeyMetadata"][attribute]
        raise Unresolvable(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally")
