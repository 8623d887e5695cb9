"""template.yaml: structure checks (plain) and cfn-lint / SAM CLI runs (marked infra)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TOOLS_BIN = ROOT / ".tools" / "bin"

# Logical IDs and outputs other code (local stack, deploy docs) refers to by name.
CONTRACT_RESOURCES = {
    "HttpApi": "AWS::Serverless::HttpApi",
    "TimkitLayer": "AWS::Serverless::LayerVersion",
    "TimSecret": "AWS::SecretsManager::Secret",
    "PolicyParameter": "AWS::SSM::Parameter",
    "ArchiveTable": "AWS::DynamoDB::Table",
    "BotStateTable": "AWS::DynamoDB::Table",
    "EventsQueue": "AWS::SQS::Queue",
    "EventsDeadLetterQueue": "AWS::SQS::Queue",
    "TimCallbackFunction": "AWS::Serverless::Function",
    "EventProcessorFunction": "AWS::Serverless::Function",
    "TimCallbackLogGroup": "AWS::Logs::LogGroup",
    "EventProcessorLogGroup": "AWS::Logs::LogGroup",
    "AlarmTopic": "AWS::SNS::Topic",
}
CONTRACT_OUTPUTS = {
    "CallbackUrl",
    "TimSecretArn",
    "ArchiveTableName",
    "EventsQueueUrl",
    "EventsDeadLetterQueueUrl",
    "BotStateTableName",
    "PolicyParameterName",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def function_setting(template: dict[str, Any], name: str, key: str) -> Any:
    """A function property as SAM sees it: the function's own value, else the Globals one."""
    properties = template["Resources"][name]["Properties"]
    if key in properties:
        return properties[key]
    return template.get("Globals", {}).get("Function", {}).get(key)


def ref_target(value: Any) -> str:
    """The logical ID behind !Ref X or !GetAtt X.Attr."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    raise AssertionError(f"expected !Ref or !GetAtt, got {value!r}")


# --- the loader -----------------------------------------------------------------------------


def test_loader_expands_short_form_intrinsics(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Date: 2010-09-09\n"
        "Conditions:\n"
        "  IsOn: !Equals [!Ref Flag, 'true']\n"
        "  IsOff: !Not [!Condition IsOn]\n"
        "Resources:\n"
        "  Fn:\n"
        "    Properties:\n"
        "      Url: !Sub 'https://${Api}.example/${AWS::Region}'\n"
        "      Arn: !GetAtt Queue.Arn\n"
        "      Address: !GetAtt Db.Endpoint.Address\n"
        "      Listed: !GetAtt [Queue, QueueName]\n"
        "      Choice: !If [IsOn, !Select [0, !GetAZs ''], !Ref AWS::NoValue]\n"
        "      Count: 3\n"
    )
    t = load_template(path)
    assert t["AWSTemplateFormatVersion"] == "2010-09-09"
    assert t["Date"] == "2010-09-09"
    assert t["Conditions"] == {
        "IsOn": {"Fn::Equals": [{"Ref": "Flag"}, "true"]},
        "IsOff": {"Fn::Not": [{"Condition": "IsOn"}]},
    }
    assert t["Resources"]["Fn"]["Properties"] == {
        "Url": {"Fn::Sub": "https://${Api}.example/${AWS::Region}"},
        "Arn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "Address": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "Listed": {"Fn::GetAtt": ["Queue", "QueueName"]},
        "Choice": {"Fn::If": ["IsOn", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Ref": "AWS::NoValue"}]},
        "Count": 3,
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("A: !Reff X\n", "unknown CloudFormation tag !Reff"),
        ("A: 1\nB: 2\nA: 3\n", "duplicate key 'A'"),
    ],
)
def test_loader_rejects_what_cloudformation_rejects(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(yaml.YAMLError, match=problem):
        load_template(path)


def test_loader_rejects_a_non_mapping_document(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("- just a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_template(path)


# --- template structure ---------------------------------------------------------------------


def test_contract_logical_ids_and_outputs_exist(template: dict[str, Any]) -> None:
    types = {name: r["Type"] for name, r in template["Resources"].items()}
    assert {name: types.get(name) for name in CONTRACT_RESOURCES} == CONTRACT_RESOURCES
    assert set(template["Outputs"]) >= CONTRACT_OUTPUTS


def test_every_function_runs_python313_with_the_layer(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert {"TimCallbackFunction", "EventProcessorFunction"} <= set(functions)
    for name in functions:
        assert function_setting(template, name, "Runtime") == "python3.13", name
        assert function_setting(template, name, "Architectures") == ["x86_64"], name
        assert {"Ref": "TimkitLayer"} in function_setting(template, name, "Layers"), name
    layer = template["Resources"]["TimkitLayer"]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == ["x86_64"]


def test_makefile_builds_have_their_make_target(template: dict[str, Any]) -> None:
    built = {
        name: r
        for name, r in template["Resources"].items()
        if r.get("Metadata", {}).get("BuildMethod") == "makefile"
    }
    assert {"TimkitLayer", "TimCallbackFunction", "EventProcessorFunction"} <= set(built)
    for name, resource in built.items():
        source = resource["Properties"].get("CodeUri") or resource["Properties"]["ContentUri"]
        makefile = ROOT / source / "Makefile"
        assert f"build-{name}:" in makefile.read_text(), makefile


def test_callback_function_publishes_an_alias_with_snapstart_switch(template: dict[str, Any]) -> None:
    properties = template["Resources"]["TimCallbackFunction"]["Properties"]
    assert properties["AutoPublishAlias"] == "live"
    assert properties["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}
    assert template["Conditions"]["SnapStartOn"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}
    assert template["Parameters"]["EnableSnapStart"]["AllowedValues"] == ["true", "false"]


def test_callback_route_is_a_post_on_the_http_api(template: dict[str, Any]) -> None:
    events = template["Resources"]["TimCallbackFunction"]["Properties"]["Events"].values()
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in events
        if e["Type"] == "HttpApi" and e["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    }
    assert routes == {("POST", "/tim/callback")}


def parameter_default(template: dict[str, Any], value: Any) -> Any:
    """The default of the parameter ``value`` refers to (``!Ref P``), checked to be within its bounds."""
    declaration = template["Parameters"][ref_target(value)]
    default = declaration["Default"]
    assert declaration["Description"], ref_target(value)
    assert declaration["MinValue"] <= default <= declaration["MaxValue"], ref_target(value)
    return default


def test_http_api_throttles_every_route_and_the_callback_apart(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    default = {k: parameter_default(template, v) for k, v in api["DefaultRouteSettings"].items()}
    assert set(default) == {"ThrottlingRateLimit", "ThrottlingBurstLimit"}
    # The callback's own, higher limits: a flood on the merger or admin routes is refused at the
    # gateway before it reaches the limits the before-send callback gets.
    (route_key, settings), = api["RouteSettings"].items()
    assert route_key == "POST /tim/callback"
    callback = {k: parameter_default(template, v) for k, v in settings.items()}
    assert set(callback) == set(default)
    assert all(callback[name] > default[name] for name in default)
    assert all(0 < value <= 10_000 for value in [*default.values(), *callback.values()])


def test_callback_function_has_reserved_concurrency_unless_set_to_0(template: dict[str, Any]) -> None:
    reserved = template["Resources"]["TimCallbackFunction"]["Properties"]["ReservedConcurrentExecutions"]
    condition, value, otherwise = reserved["Fn::If"]
    assert (value, otherwise) == ({"Ref": "CallbackReservedConcurrency"}, {"Ref": "AWS::NoValue"})
    assert template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CallbackReservedConcurrency"}, 0]}]
    }
    assert parameter_default(template, value) == 50
    assert template["Parameters"]["CallbackReservedConcurrency"]["MinValue"] == 0
    # No other function reserves concurrency: the account's unreserved pool stays shared.
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert [n for n, f in functions.items() if "ReservedConcurrentExecutions" in f["Properties"]] == [
        "TimCallbackFunction"
    ]


def test_merger_api_paces_its_membership_lookups_with_the_shared_limiter(template: dict[str, Any]) -> None:
    function = template["Resources"]["MergerApiFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["RATE_TABLE"] == {"Ref": "RateTable"}
    assert variables["REST_CALLS_PER_SECOND"] == {"Ref": "RestCallsPerSecond"}
    # RateBuckets.take is one conditional UpdateItem: nothing else on the rate table.
    on_rate_table = [
        statement
        for policy in function["Policies"]
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if "RateTable" in json.dumps(statement["Resource"])
    ]
    assert [(s["Effect"], s["Action"]) for s in on_rate_table] == [("Allow", "dynamodb:UpdateItem")]
    assert not any("RateTable" in json.dumps(p) for p in function["Policies"] if "Statement" not in p)


def test_sqs_events_report_batch_item_failures_and_outlast_retries(template: dict[str, Any]) -> None:
    sqs_events = [
        (name, event["Properties"])
        for name, function in resources_of_type(template, "AWS::Serverless::Function").items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    ]
    assert "EventProcessorFunction" in {name for name, _ in sqs_events}
    for name, event in sqs_events:
        assert "ReportBatchItemFailures" in event["FunctionResponseTypes"], name
        queue = template["Resources"][ref_target(event["Queue"])]["Properties"]
        # Lambda's guidance for SQS sources: visibility timeout at least 6x the function timeout.
        assert queue["VisibilityTimeout"] >= 6 * function_setting(template, name, "Timeout"), name
        assert "RedrivePolicy" in queue, name


def test_every_log_group_has_retention_and_functions_log_to_them(template: dict[str, Any]) -> None:
    log_groups = resources_of_type(template, "AWS::Logs::LogGroup")
    for name, group in log_groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    for name in resources_of_type(template, "AWS::Serverless::Function"):
        logging = {
            **(template.get("Globals", {}).get("Function", {}).get("LoggingConfig") or {}),
            **(template["Resources"][name]["Properties"].get("LoggingConfig") or {}),
        }
        assert logging["LogFormat"] == "JSON", name
        # Without its own group a function logs to /aws/lambda/<name>, kept forever.
        assert ref_target(logging["LogGroup"]) in log_groups, name


def test_every_table_and_bucket_says_what_becomes_of_its_data(template: dict[str, Any]) -> None:
    stores = {
        name: (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
        for name, r in template["Resources"].items()
        if r["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket")
    }
    # Records outlive the stack; short-lived state that expires through TTL goes with it.
    kept = {"ArchiveTable", "MergerTable", "MergerBucket", "JobsTable"}
    dropped = {"BotStateTable", "RateTable", "IdempotencyTable"}
    assert stores == {name: ("Retain", "Retain") for name in kept} | {name: ("Delete", "Delete") for name in dropped}


def test_every_dead_letter_queue_has_an_alarm_that_notifies(template: dict[str, Any]) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    dead_letter_queues = {
        ref_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in resources_of_type(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    assert dead_letter_queues == {"EventsDeadLetterQueue", "BroadcastDeadLetterQueue"}
    for queue in dead_letter_queues:
        watching = [
            a["Properties"]
            for a in alarms
            if a["Properties"]["Namespace"] == "AWS/SQS"
            and a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
            in a["Properties"]["Dimensions"]
        ]
        assert watching, f"no alarm on {queue}"
        for alarm in watching:
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
            assert alarm["Threshold"] == 0
            assert {"Ref": "AlarmTopic"} in alarm["AlarmActions"]


def test_every_function_has_an_errors_alarm_that_notifies(template: dict[str, Any]) -> None:
    watched = {
        ref_target(dimension["Value"]): alarm
        for alarm in (a["Properties"] for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values())
        if alarm["Namespace"] == "AWS/Lambda" and alarm["MetricName"] == "Errors"
        for dimension in alarm["Dimensions"]
        if dimension["Name"] == "FunctionName"
    }
    functions = set(resources_of_type(template, "AWS::Serverless::Function"))
    assert functions - set(watched) == set(), "functions without an Errors alarm"
    for name in functions:
        alarm = watched[name]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0), name
        assert {"Ref": "AlarmTopic"} in alarm["AlarmActions"], name


def merger_grants(template: dict[str, Any], name: str) -> set[str]:
    """What a function may do to the merger table and bucket: the SAM policy templates naming them,
    and the actions of inline statements on them."""
    def on_mergers(value: Any) -> bool:
        return bool({"MergerTable", "MergerBucket"} & set(re.findall(r"\w+", json.dumps(value))))

    grants = set()
    for policy in function_setting(template, name, "Policies") or []:
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []):
            if on_mergers(statement["Resource"]):
                actions = statement["Action"]
                grants |= {actions} if isinstance(actions, str) else set(actions)
        grants |= {key for key, arguments in policy.items() if key != "Statement" and on_mergers(arguments)}
    return grants


def test_merger_storage_is_reached_with_only_the_calls_merger_store_makes(template: dict[str, Any]) -> None:
    # MergerStore: put (s3:PutObject, dynamodb:PutItem), meta (GetItem, capture only), metas
    # (BatchGetItem, uploads only), open and download_url (s3:GetObject, under S3ReadPolicy with its
    # s3:ListBucket: a missing key is then NoSuchKey).
    expected = {
        "EventProcessorFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "s3:PutObject"},
        "MergerApiFunction": {"S3ReadPolicy", "dynamodb:BatchGetItem", "dynamodb:PutItem", "s3:PutObject"},
    }
    functions = resources_of_type(template, "AWS::Serverless::Function")
    assert {name: merger_grants(template, name) for name in functions} == {
        name: expected.get(name, set()) for name in functions
    }


def test_alarm_topic_key_lets_cloudwatch_publish(template: dict[str, Any]) -> None:
    # alias/aws/sns would encrypt the topic with a key CloudWatch alarms may not use.
    key_id = template["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    key = template["Resources"][ref_target(key_id)]
    assert key["Type"] == "AWS::KMS::Key"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    grants = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert grants
    assert set(grants[0]["Action"]) >= {"kms:Decrypt", "kms:GenerateDataKey*"}


# --- the tools (cfn-lint, SAM CLI) ----------------------------------------------------------


def tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tools` to install cfn-lint and SAM CLI", pytrace=False)
    return path


def run_tool(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        # The layer's Makefile runs `python3 -m pip`; the tools venv always has pip.
        "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    command = [str(a) for a in args]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{args[0]} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.infra
def test_cfn_lint_passes() -> None:
    run_tool(tool("cfn-lint"), "template.yaml")


@pytest.mark.infra
def test_sam_validate_lint_passes() -> None:
    run_tool(tool("sam"), "validate", "--lint", "--region", "us-east-1", "--template-file", "template.yaml")


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    run_tool(
        tool("sam"),
        "build",
        "--template-file",
        "template.yaml",
        "--build-dir",
        build_dir,
        timeout=900,
    )
    return build_dir


@pytest.mark.infra
def test_sam_build_layer_holds_timkit_and_cp313_wheels(sam_build: Path) -> None:
    python = sam_build / "TimkitLayer" / "python"
    assert (python / "timkit" / "__init__.py").is_file()
    assert not list((python / "timkit").rglob("__pycache__"))
    core = [p.name for p in (python / "pydantic_core").glob("*.so")]
    assert any("cpython-313-x86_64-linux-gnu" in n for n in core), core
    aho = [p.name for p in python.glob("ahocorasick*.so")]
    assert any("cpython-313-x86_64-linux-gnu" in n for n in aho), aho
    # Bytecode compiled by the local interpreter would be dead weight on 3.13.
    assert not list(python.rglob("*.pyc"))


@pytest.mark.infra
@pytest.mark.parametrize("function", sorted(resources_of_type(load_template(TEMPLATE), "AWS::Serverless::Function")))
def test_sam_build_functions_hold_their_handler(sam_build: Path, function: str) -> None:
    module = load_template(TEMPLATE)["Resources"][function]["Properties"]["Handler"].rpartition(".")[0]
    assert (sam_build / function / f"{module.replace('.', '/')}.py").is_file()
    assert (sam_build / "template.yaml").is_file()
