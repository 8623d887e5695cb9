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

from local import template as local_template
from local.cfn_yaml import load_template
from tests.handlers import FUNCTION_SETTINGS, WITHOUT_SETTINGS, required_settings
from timkit.config import AUTH_DISABLED_ACK, CallbackSettings
from timkit.keys import key_problem

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TOOLS_BIN = ROOT / ".tools" / "bin"

# Logical IDs and outputs other code (local stack, deploy docs) refers to by name.
CONTRACT_RESOURCES = {
    "HttpApi": "AWS::Serverless::HttpApi",
    "TimkitLayer": "AWS::Serverless::LayerVersion",
    "TimSecret": "AWS::SecretsManager::Secret",
    "CallbackSecret": "AWS::SecretsManager::Secret",
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
    "CallbackSecretArn",
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
    """A function property as SAM sees it: the function's own value, else the Globals one (the
    environment's variables: both, merged, the function's winning)."""
    properties = template["Resources"][name]["Properties"]
    if key == "Environment":
        variables = [
            (source.get(key) or {}).get("Variables") or {}
            for source in (template.get("Globals", {}).get("Function", {}), properties)
        ]
        return {"Variables": {**variables[0], **variables[1]}}
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


def test_every_function_gets_every_variable_its_settings_require(template: dict[str, Any]) -> None:
    # A function's settings model fails its cold start naming a required variable that is missing
    # (tests/unit/test_function_settings.py); the template must never let that happen.
    folders = {}
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        folder = Path(function["Properties"]["CodeUri"]).name
        folders[folder] = name
        if folder in WITHOUT_SETTINGS:
            continue
        variables = function_setting(template, name, "Environment")["Variables"]
        missing = [v for v in required_settings(FUNCTION_SETTINGS[folder]) if not variables.get(v)]
        assert not missing, f"{name} lacks {missing}"
    assert set(folders) == set(FUNCTION_SETTINGS) | WITHOUT_SETTINGS, (
        "every function's settings model is in tests/handlers.py"
    )


def test_makefile_builds_have_their_make_target(template: dict[str, Any]) -> None:
    built = {
        name: r for name, r in template["Resources"].items() if r.get("Metadata", {}).get("BuildMethod") == "makefile"
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
    ((route_key, settings),) = api["RouteSettings"].items()
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
    # Records outlive the stack (bots' configurations too); short-lived state that expires through
    # TTL goes with it.
    kept = {"ArchiveTable", "MergerTable", "MergerBucket", "JobsTable", "BotStateTable"}
    dropped = {"RateTable", "IdempotencyTable", "WsConnectionsTable"}
    assert stores == {name: ("Retain", "Retain") for name in kept} | {name: ("Delete", "Delete") for name in dropped}


def test_every_dead_letter_queue_has_an_alarm_that_notifies(template: dict[str, Any]) -> None:
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    dead_letter_queues = {
        ref_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in resources_of_type(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    assert dead_letter_queues == {"EventsDeadLetterQueue", "BroadcastDeadLetterQueue", "ChatbotDeadLetterQueue"}
    for queue in dead_letter_queues:
        watching = [
            a["Properties"]
            for a in alarms
            if a["Properties"]["Namespace"] == "AWS/SQS"
            and a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}} in a["Properties"]["Dimensions"]
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


@pytest.mark.parametrize(
    ("metric", "function"),
    [("CallbackUnauthenticated", "TimCallbackFunction"), ("ConflictingBody", "EventProcessorFunction")],
)
def test_metrics_that_mean_an_attack_or_an_open_door_raise_an_alarm(
    template: dict[str, Any], metric: str, function: str
) -> None:
    # CallbackUnauthenticated: every callback while CallbackAuth is disabled; ConflictingBody:
    # another body for an archived message. Powertools Metrics puts them in the function's
    # namespace, dimensioned by its service.
    env = function_setting(template, function, "Environment")["Variables"]
    alarms = [
        a["Properties"]
        for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == metric
    ]
    assert len(alarms) == 1
    (alarm,) = alarms
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "GreaterThanThreshold", 0)
    assert {"Ref": "AlarmTopic"} in alarm["AlarmActions"]


def test_disabling_callback_auth_takes_a_second_parameter_naming_the_risk(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["CallbackAuthDisabledAck"]
    assert parameter["Default"] == ""
    assert parameter["AllowedValues"] == ["", AUTH_DISABLED_ACK]
    callback_env = template["Resources"]["TimCallbackFunction"]["Properties"]["Environment"]["Variables"]
    assert callback_env["CALLBACK_AUTH"] == {"Ref": "CallbackAuth"}
    assert callback_env["CALLBACK_AUTH_DISABLED_ACK"] == {"Ref": "CallbackAuthDisabledAck"}


def test_capture_key_secret_is_generated_and_read_by_the_event_processor_only(template: dict[str, Any]) -> None:
    secret = template["Resources"]["CaptureKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {}
    assert generated["GenerateStringKey"] == "capture_key"
    assert generated["PasswordLength"] >= 32
    readers = {
        name
        for name, function in resources_of_type(template, "AWS::Serverless::Function").items()
        if "CaptureKeySecret" in json.dumps(function["Properties"])
    }
    assert readers == {"EventProcessorFunction"}
    processor = template["Resources"]["EventProcessorFunction"]["Properties"]
    assert processor["Environment"]["Variables"]["CAPTURE_SECRET_ID"] == {"Ref": "CaptureKeySecret"}
    reads = {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "CaptureKeySecret"}}}
    assert reads in processor["Policies"]


def grants_on(template: dict[str, Any], name: str, resources: set[str]) -> set[str]:
    """What a function may do to the given resources (logical IDs): the SAM policy templates naming
    them, and the actions of inline statements on them."""

    def on_resources(value: Any) -> bool:
        return bool(resources & set(re.findall(r"\w+", json.dumps(value))))

    grants = set()
    for policy in function_setting(template, name, "Policies") or []:
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []):
            if on_resources(statement["Resource"]):
                actions = statement["Action"]
                grants |= {actions} if isinstance(actions, str) else set(actions)
        grants |= {key for key, arguments in policy.items() if key != "Statement" and on_resources(arguments)}
    return grants


def merger_grants(template: dict[str, Any], name: str) -> set[str]:
    return grants_on(template, name, {"MergerTable", "MergerBucket"})


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


def refs(value: Any) -> set[str]:
    """Every logical ID a value refers to (!Ref, !GetAtt, ${X} in !Sub), however deep."""
    if isinstance(value, list):
        return set().union(*map(refs, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = set().union(*map(refs, value.values())) if value else set()
    if isinstance(value.get("Ref"), str):
        found.add(value["Ref"])
    if "Fn::GetAtt" in value:
        found.add(ref_target(value))
    if "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
    return found


def secrets_read(template: dict[str, Any], name: str) -> tuple[dict[str, str], set[str]]:
    """A function's secret settings (environment name -> secret) and the secrets its policies name."""
    properties = template["Resources"][name]["Properties"]
    env = (properties.get("Environment") or {}).get("Variables", {})
    secrets = set(resources_of_type(template, "AWS::SecretsManager::Secret"))
    settings = {variable: ref_target(value) for variable, value in env.items() if refs(value) & secrets}
    return settings, refs(properties.get("Policies", [])) & secrets


def test_each_function_reads_only_the_secret_it_needs(template: dict[str, Any]) -> None:
    # The callback function answers the internet on the fast path: it holds the callback token,
    # never the app's key (which signs as any user). The key is for who signs or verifies sigs.
    key_readers = {
        "AdminApiFunction",
        "BroadcastWorkerFunction",
        "MergerApiFunction",
        "MergerAuthorizerFunction",
        "ChatbotWorkerFunction",
        # The WebSocket gateway verifies users' sigs at connect and sends (and looks up members) as the admin.
        "WsApiFunction",
        "WsFanoutFunction",
    }
    functions = resources_of_type(template, "AWS::Serverless::Function")
    expected = {
        name: ({"TIM_SECRET_ID": "TimSecret"}, {"TimSecret"}) if name in key_readers else ({}, set())
        for name in functions
    }
    expected["TimCallbackFunction"] = ({"CALLBACK_SECRET_ID": "CallbackSecret"}, {"CallbackSecret"})
    expected["EventProcessorFunction"] = ({"CAPTURE_SECRET_ID": "CaptureKeySecret"}, {"CaptureKeySecret"})
    # The chatbot worker sends as the bot (the app's key) with its providers' API keys.
    expected["ChatbotWorkerFunction"] = (
        {"TIM_SECRET_ID": "TimSecret", "CHATBOT_SECRET_ID": "ChatbotSecret"},
        {"TimSecret", "ChatbotSecret"},
    )
    assert {name: secrets_read(template, name) for name in functions} == expected


def test_the_app_key_secret_starts_without_a_usable_key(template: dict[str, Any]) -> None:
    generate = template["Resources"]["TimSecret"]["Properties"]["GenerateSecretString"]
    # A generated key would be a random one Tencent does not know: it must be the operator's.
    assert generate["GenerateStringKey"] != "secret_key"
    key = json.loads(generate["SecretStringTemplate"])["secret_key"]
    assert key_problem(key) is not None


def test_the_app_key_secret_keeps_what_existing_stacks_were_created_with(template: dict[str, Any]) -> None:
    # Any change to how the value is made would have CloudFormation overwrite the secret on the
    # next update of an existing stack: the key its operator set would be gone.
    assert template["Resources"]["TimSecret"]["Properties"]["GenerateSecretString"] == {
        "SecretStringTemplate": '{"secret_key":"REPLACE_ME"}',
        "GenerateStringKey": "callback_token",
        "ExcludePunctuation": True,
        "PasswordLength": 40,
    }


def test_the_callback_secret_starts_from_the_token_the_console_has(template: dict[str, Any]) -> None:
    properties = template["Resources"]["CallbackSecret"]["Properties"]
    # Any change to them would have CloudFormation resolve the reference again on the next update,
    # putting back the seed token over one rotated in this secret.
    assert set(properties) == {"Description", "SecretString"}
    assert properties["Description"] == (
        "Tencent Cloud Chat callback authentication token for timkit (callback_token, entered in "
        "the IM console) and optionally the before-send policy (policy)."
    )
    document, names = properties["SecretString"]["Fn::Sub"], {"TimSecret"}
    assert refs(properties["SecretString"]) == names
    assert json.loads(document) == {
        "callback_token": "{{resolve:secretsmanager:${TimSecret}:SecretString:callback_token}}"
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
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
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
    core = [p.name for p in (python / "pydantic_core").glob("*.so")]
    assert any("cpython-313-x86_64-linux-gnu" in n for n in core), core
    aho = [p.name for p in python.glob("ahocorasick*.so")]
    assert any("cpython-313-x86_64-linux-gnu" in n for n in aho), aho
    # Bytecode of any other interpreter (the local one, the dev tree's caches) is dead weight on 3.13.
    assert [p for p in python.rglob("*.pyc") if not p.name.endswith(".cpython-313.pyc")] == []


@pytest.mark.infra
@pytest.mark.parametrize("function", sorted(resources_of_type(load_template(TEMPLATE), "AWS::Serverless::Function")))
def test_sam_build_functions_hold_their_handler(sam_build: Path, function: str) -> None:
    module = load_template(TEMPLATE)["Resources"][function]["Properties"]["Handler"].rpartition(".")[0]
    assert (sam_build / function / f"{module.replace('.', '/')}.py").is_file()
    assert (sam_build / "template.yaml").is_file()


# --- bytecode in the built artifacts ----------------------------------------------------------

# PEP 552 pyc flags (header bytes 4-8): bit 0 hash-based, bit 1 check the source against the hash.
UNCHECKED_HASH_PYC = 0b01


@pytest.fixture(scope="module")
def runtime_python() -> str:
    """The Python 3.13 the build compiles bytecode with, as layers/timkit/bytecode.mk finds it."""
    found = subprocess.run(
        ["make", "-s", "-f", str(ROOT / "layers" / "timkit" / "Makefile"), "runtime-python"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not found:
        pytest.skip("no Python 3.13 here (RUNTIME_PYTHON): the build ships no bytecode, as it warns")
    return found


@pytest.mark.infra
def test_sam_build_ships_unchecked_hash_bytecode_of_the_runtime_python(sam_build: Path, runtime_python: str) -> None:
    magic = subprocess.run(
        [runtime_python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    layer = sam_build / "TimkitLayer" / "python"
    layer_sources = list(layer.rglob("*.py"))
    assert {"timkit", "pydantic", "aws_lambda_powertools"} <= {p.relative_to(layer).parts[0] for p in layer_sources}
    sources = [*layer_sources, *sam_build.glob("*Function/*.py")]
    wrong = {}
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        header = pyc.read_bytes()[:8] if pyc.is_file() else b""
        if header[:4].hex() != magic or int.from_bytes(header[4:8], "little") != UNCHECKED_HASH_PYC:
            wrong[str(source.relative_to(sam_build))] = header.hex() or "missing"
    assert wrong == {}


@pytest.mark.infra
def test_callback_handler_imports_from_the_build_using_only_its_bytecode(sam_build: Path, runtime_python: str) -> None:
    # As in Lambda: the function's folder then the layer's, nothing else installed, nothing written
    # (-B: /var/task and /opt are read-only). -v names where each module's code object came from.
    script = (
        f"import sys; sys.path[:0] = [{str(sam_build / 'TimCallbackFunction')!r}, "
        f"{str(sam_build / 'TimkitLayer' / 'python')!r}]; import app"
    )
    done = subprocess.run(
        [runtime_python, "-I", "-S", "-B", "-v", "-c", script],
        env={
            "PATH": os.environ.get("PATH", ""),
            **{name: "set" for name in required_settings(CallbackSettings)},
            "TIM_SDKAPPID": "1400000001",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = re.findall(r"^# code object from '?(.+?)'?$", done.stderr, re.MULTILINE)
    from_build = [path for path in loaded if path.startswith(str(sam_build))]
    assert any("/timkit/" in path for path in from_build) and any("/pydantic/" in path for path in from_build)
    assert [path for path in from_build if not path.endswith(".cpython-313.pyc")] == []


# --- least privilege ------------------------------------------------------------------------


def test_archive_is_written_by_the_event_processor_and_read_by_the_admin_api(template: dict[str, Any]) -> None:
    # ArchiveStore in the event processor: put_once (a conditional PutItem), history (Query) and
    # set_summary (a conditional UpdateItem). In the admin API: history by conversation (Query on the
    # index), one entry (GetItem), read marks (Query) and the backfill (Scan, UpdateItem, Query).
    functions = resources_of_type(template, "AWS::Serverless::Function")
    expected = {
        "EventProcessorFunction": {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"},
        "AdminApiFunction": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem"},
    }
    assert {name: grants_on(template, name, {"ArchiveTable"}) for name in functions} == {
        name: expected.get(name, set()) for name in functions
    }
    admin = [
        statement
        for policy in function_setting(template, "AdminApiFunction", "Policies")
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if "ArchiveTable" in json.dumps(statement["Resource"])
    ]
    # The index is queried, nothing else; the table's statements name the table alone.
    assert [s for s in admin if "index" in json.dumps(s["Resource"])] == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:Query",
            "Resource": {"Fn::Sub": "${ArchiveTable.Arn}/index/ByConversation"},
        }
    ]


def test_the_history_index_is_sparse_and_keyed_by_conversation_and_timeline(template: dict[str, Any]) -> None:
    properties = template["Resources"]["ArchiveTable"]["Properties"]
    (index,) = properties["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": "ByConversation",
        "KeySchema": [
            {"AttributeName": "conversation", "KeyType": "HASH"},
            {"AttributeName": "timeline", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert {"AttributeName": "timeline", "AttributeType": "S"} in properties["AttributeDefinitions"]


def test_scheduler_role_is_passed_only_to_the_scheduler_and_assumed_only_by_this_stacks_schedules(
    template: dict[str, Any],
) -> None:
    admin_statements = [
        statement
        for policy in function_setting(template, "AdminApiFunction", "Policies")
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
    ]
    schedules = next(s["Resource"] for s in admin_statements if "scheduler:CreateSchedule" in s["Action"])
    pass_role = [s for s in admin_statements if "iam:PassRole" in json.dumps(s["Action"])]
    assert pass_role == [
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        }
    ]
    # No other function may pass a role at all.
    for name in resources_of_type(template, "AWS::Serverless::Function"):
        if name != "AdminApiFunction":
            assert "iam:PassRole" not in json.dumps(function_setting(template, name, "Policies")), name

    trust = template["Resources"]["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                # The very schedules the admin API may create: those of this stack's group.
                "ArnLike": {"aws:SourceArn": schedules},
            },
        }
    ]
    assert schedules == {
        "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:"
        "schedule/${BroadcastScheduleGroup}/*"
    }


# --- route authorisation --------------------------------------------------------------------

# What else would put a URL in front of a function, outside the HttpApi and its routes' checks.
OTHER_ENTRY_TYPES = {
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Route",
    "AWS::Lambda::Url",
}


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


# The merger API's document and its CORS preflights (a browser sends no Authorization with one): public.
MERGER_PUBLIC_ROUTES = {"GET /mergers/openapi.json", "OPTIONS /mergers", "OPTIONS /mergers/{downloadKey}"}

# The WebSocket gateway: its three routes reach WsApiFunction only, which verifies the user's
# UserSig at $connect before it writes anything (timkit.ws.gateway; tests/unit/test_ws_gateway.py).
WEBSOCKET_ROUTES = {"$connect", "$disconnect", "$default"}


def websocket_entries(resources: dict[str, Any]) -> set[str]:
    """The WebSocket API and its routes when they are the known class; else none of them."""
    api = resources.get("WsApi", {})
    if api.get("Type") != "AWS::ApiGatewayV2::Api" or api["Properties"].get("ProtocolType") != "WEBSOCKET":
        return set()
    integration = resources.get("WsIntegration", {}).get("Properties", {})
    uri = integration.get("IntegrationUri", {}).get("Fn::Sub", "")
    if integration.get("ApiId") != {"Ref": "WsApi"} or "${WsApiFunction.Arn}" not in uri:
        return set()
    routes = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::ApiGatewayV2::Route" and resource["Properties"].get("ApiId") == {"Ref": "WsApi"}
    }
    if {r["RouteKey"] for r in routes.values()} != WEBSOCKET_ROUTES or any(
        r.get("Target") != {"Fn::Sub": "integrations/${WsIntegration}"} for r in routes.values()
    ):
        return set()
    return {"WsApi", *routes}


def route_authorisation_problems(path: Path) -> list[str]:
    """Every way the template at ``path`` exposes a function over HTTP, checked against the known
    classes: IAM for /admin, the UserSig authorizer (MergerAuthorizerFunction) for /mergers but its
    public document and preflights, and the callback, which has no gateway authorizer because its
    function verifies Tencent's Sign."""
    loaded = local_template.load(path)
    problems = []
    # Events of every function, whatever its condition: HttpApi events on the HttpApi only (an
    # event without ApiId makes an implicit API, with none of the HttpApi's authorizers).
    for name, resource in loaded.original["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        if "FunctionUrlConfig" in properties:
            problems.append(f"{name}: a function URL")
        for event_name, event in (properties.get("Events") or {}).items():
            on_http_api = (event.get("Properties") or {}).get("ApiId") == {"Ref": "HttpApi"}
            if event["Type"] == "Api" or (event["Type"] == "HttpApi" and not on_http_api):
                problems.append(f"{name}.{event_name}: a route outside the HttpApi")
    transformed = loaded.transformed["Resources"]
    websocket = websocket_entries(transformed)
    for name, resource in transformed.items():
        if resource["Type"] in OTHER_ENTRY_TYPES and name != "HttpApi" and name not in websocket:
            problems.append(f"{name}: {resource['Type']} outside the HttpApi")

    # Every route as deployed: authorizers from the HttpApi's OpenAPI body after the SAM transform.
    for route, function in loaded.routes:
        if under(route.path, "/admin"):
            known = route.authorizer == "AWS_IAM"
        elif route.route_key in MERGER_PUBLIC_ROUTES:
            known = route.authorizer is None and function.logical_id == "MergerApiFunction"
        elif under(route.path, "/mergers"):
            authorizer = route.lambda_authorizer
            known = authorizer is not None and (authorizer.name, authorizer.function_id) == (
                "UserSigAuthorizer",
                "MergerAuthorizerFunction",
            )
        elif (route.method, route.path) == ("POST", "/tim/callback"):
            setting = function.environment.get("CALLBACK_AUTH")
            default = CallbackSettings.model_fields["CALLBACK_AUTH"].default
            mode = default if setting is None else loaded.intrinsics().resolve(setting)
            verifies_sign = mode == "required"
            known = route.authorizer is None and function.logical_id == "TimCallbackFunction" and verifies_sign
        else:
            known = False
        if not known:
            where = f"{function.logical_id}, authorizer {route.authorizer}"
            problems.append(f"{route.route_key} ({where}): not a known class")
    # And nothing routes that no function event declares (a DefinitionBody path, say).
    body = transformed["HttpApi"]["Properties"]["Body"]
    deployed = {
        f"{'ANY' if method == 'x-amazon-apigateway-any-method' else method.upper()} {route_path}"
        for route_path, operations in body["paths"].items()
        for method in operations
    }
    declared = {route.route_key for route, _ in loaded.routes}
    problems += [f"{key}: routed but not a function event" for key in sorted(deployed - declared)]
    return problems


def test_every_route_has_its_intended_authorisation() -> None:
    assert route_authorisation_problems(TEMPLATE) == []


THREAD_ROUTES = {
    f"{method} /admin/threads{path}"
    for method, path in [
        ("POST", ""),
        ("GET", ""),
        ("GET", "/{threadId}"),
        ("DELETE", "/{threadId}"),
        ("PUT", "/{threadId}/topic"),
        ("POST", "/{threadId}/messages"),
        ("GET", "/{threadId}/messages"),
        ("GET", "/{threadId}/messages/{messageId}"),
        ("PUT", "/{threadId}/messages/{messageId}"),
        ("DELETE", "/{threadId}/messages/{messageId}"),
        ("POST", "/{threadId}/readReceipts"),
        ("GET", "/{threadId}/readReceipts"),
        ("POST", "/{threadId}/participants"),
        ("GET", "/{threadId}/participants"),
        ("DELETE", "/{threadId}/participants/{userId}"),
        ("POST", "/{threadId}/typing"),
    ]
}


def test_thread_routes_are_the_admin_functions_behind_iam() -> None:
    loaded = local_template.load(TEMPLATE)
    threads = {
        route.route_key: (function.logical_id, route.authorizer)
        for route, function in loaded.routes
        if under(route.path, "/admin/threads")
    }
    assert threads == dict.fromkeys(THREAD_ROUTES, ("AdminApiFunction", "AWS_IAM"))


def _event(method: str, path: str, authorizer: str | None = None, api: bool = True) -> dict[str, Any]:
    properties: dict[str, Any] = {"Method": method, "Path": path}
    if api:
        properties["ApiId"] = {"Ref": "HttpApi"}
    if authorizer:
        properties["Auth"] = {"Authorizer": authorizer}
    return {"Type": "HttpApi", "Properties": properties}


def _events(t: dict[str, Any], function: str) -> dict[str, Any]:
    return t["Resources"][function]["Properties"].setdefault("Events", {})


OPEN_BY_ACCIDENT = {
    "admin route without IAM": (
        lambda t: _events(t, "AdminApiFunction")["ListRobots"]["Properties"].pop("Auth"),
        "GET /admin/robots",
    ),
    "merger route without the authorizer": (
        lambda t: _events(t, "MergerApiFunction")["DownloadMerger"]["Properties"].pop("Auth"),
        "GET /mergers/{downloadKey}",
    ),
    "a merger route left public beside the document": (
        lambda t: _events(t, "MergerApiFunction").update(Open=_event("GET", "/mergers/{downloadKey}/raw")),
        "GET /mergers/{downloadKey}/raw",
    ),
    "merger authorizer run by another function": (
        lambda t: t["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["UserSigAuthorizer"].update(
            FunctionArn={"Fn::GetAtt": ["MergerApiFunction", "Arn"]}
        ),
        "POST /mergers",
    ),
    "new route outside every class, even with IAM": (
        lambda t: _events(t, "AdminApiFunction").update(Health=_event("GET", "/health", "AWS_IAM")),
        "GET /health",
    ),
    "new open route on an SQS function": (
        lambda t: _events(t, "EventProcessorFunction").update(Web=_event("POST", "/events")),
        "POST /events",
    ),
    "callback served by another function": (
        lambda t: (
            _events(t, "TimCallbackFunction").clear(),
            _events(t, "MergerApiFunction").update(Callback=_event("POST", "/tim/callback")),
        ),
        "POST /tim/callback",
    ),
    "callback signature check off by default": (
        lambda t: t["Parameters"]["CallbackAuth"].update(Default="disabled"),
        "POST /tim/callback",
    ),
    "callback signature check off in the function": (
        lambda t: t["Resources"]["TimCallbackFunction"]["Properties"]["Environment"]["Variables"].update(
            CALLBACK_AUTH="disabled"
        ),
        "POST /tim/callback",
    ),
    "route on an implicit API": (
        lambda t: _events(t, "AdminApiFunction").update(Implicit=_event("GET", "/admin/implicit", api=False)),
        "AdminApiFunction.Implicit",
    ),
    "REST API route": (
        lambda t: _events(t, "AdminApiFunction").update(
            Rest={"Type": "Api", "Properties": {"Method": "get", "Path": "/admin/rest"}}
        ),
        "AdminApiFunction.Rest",
    ),
    "function URL": (
        lambda t: t["Resources"]["MergerApiFunction"]["Properties"].update(FunctionUrlConfig={"AuthType": "NONE"}),
        "MergerApiFunction: a function URL",
    ),
    "a path in the API's own definition": (
        lambda t: t["Resources"]["HttpApi"]["Properties"].update(
            DefinitionBody={
                "openapi": "3.0.1",
                "info": {"title": "t", "version": "1"},
                "paths": {
                    "/extra": {
                        "get": {
                            "x-amazon-apigateway-integration": {
                                "type": "http_proxy",
                                "httpMethod": "GET",
                                "uri": "https://example.com",
                                "payloadFormatVersion": "1.0",
                            }
                        }
                    }
                },
            }
        ),
        "GET /extra",
    ),
    "a route resource of its own": (
        lambda t: t["Resources"].update(
            RawRoute={
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {"ApiId": {"Ref": "HttpApi"}, "RouteKey": "GET /raw"},
            }
        ),
        "RawRoute",
    ),
    "a WebSocket route of its own": (
        lambda t: t["Resources"].update(
            WsAdminRoute={
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "WsApi"},
                    "RouteKey": "admin",
                    "AuthorizationType": "NONE",
                    "Target": {"Fn::Sub": "integrations/${WsIntegration}"},
                },
            }
        ),
        "WsAdminRoute",
    ),
    "the WebSocket API integrated with another function": (
        lambda t: t["Resources"]["WsIntegration"]["Properties"].update(
            IntegrationUri={
                "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                "${AdminApiFunction.Arn}/invocations"
            }
        ),
        "WsApi",
    ),
}


@pytest.mark.parametrize("change", sorted(OPEN_BY_ACCIDENT))
def test_a_route_without_its_intended_authorisation_is_caught(tmp_path: Path, change: str) -> None:
    mutate, named = OPEN_BY_ACCIDENT[change]
    changed = load_template(TEMPLATE)
    mutate(changed)
    # JSON is YAML: the loader reads the changed template back with its intrinsics in long form.
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps(changed))
    problems = route_authorisation_problems(path)
    assert any(named in problem for problem in problems), problems


def test_bot_turns_go_through_a_fifo_queue_the_callback_feeds_and_the_worker_drains(template: dict[str, Any]) -> None:
    # One conversation's turns in order (a FIFO message group each), others in parallel.
    queues = resources_of_type(template, "AWS::SQS::Queue")
    assert queues["ChatbotQueue"]["Properties"]["FifoQueue"] is True
    assert queues["ChatbotDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    callback = template["Resources"]["TimCallbackFunction"]["Properties"]
    assert callback["Environment"]["Variables"]["CHATBOT_QUEUE_URL"] == {"Ref": "ChatbotQueue"}
    sends = {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ChatbotQueue", "QueueName"]}}}
    assert sends in callback["Policies"]
    worker = template["Resources"]["ChatbotWorkerFunction"]["Properties"]
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["Queue"] == {"Fn::GetAtt": ["ChatbotQueue", "Arn"]}
    assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ChatbotConcurrency"}
    assert template["Parameters"]["ChatbotBatchSize"]["MaxValue"] <= 10  # FIFO sources take at most 10


def test_only_the_event_processor_puts_events_and_only_on_the_bundles_bus(template: dict[str, Any]) -> None:
    grants = {}
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(action.startswith("events:") for action in actions):
                    grants.setdefault(name, []).append((actions, statement["Resource"]))
    assert grants == {"EventProcessorFunction": [(["events:PutEvents"], {"Fn::GetAtt": ["EventBus", "Arn"]})]}
    variables = function_setting(template, "EventProcessorFunction", "Environment")["Variables"]
    assert variables["EVENT_BUS_NAME"] == {"Ref": "EventBus"}
    assert template["Resources"]["EventBus"]["Type"] == "AWS::Events::EventBus"
    assert {"EventBusName", "EventBusArn"} <= set(template["Outputs"])


def test_the_example_rule_sends_group_messages_from_the_bus_to_the_example_function(template: dict[str, Any]) -> None:
    example = template["Resources"]["EventExampleFunction"]
    assert example["Condition"] == "EventBusExampleOn"
    assert template["Parameters"]["EventBusExample"]["Default"] == "false"
    [rule] = example["Properties"]["Events"].values()
    assert rule["Type"] == "EventBridgeRule"
    assert rule["Properties"]["EventBusName"] == {"Ref": "EventBus"}
    assert rule["Properties"]["Pattern"] == {
        "source": ["timkit"],
        "detail-type": ["Group.CallbackAfterSendMsg"],
        "detail": {"version": [1]},
    }


def test_the_websocket_fanout_hears_what_it_handles_and_posts_only_to_its_api(template: dict[str, Any]) -> None:
    from timkit.ws.fanout import DETAIL_TYPES

    fanout = template["Resources"]["WsFanoutFunction"]["Properties"]
    [rule] = fanout["Events"].values()
    assert rule["Type"] == "EventBridgeRule"
    assert rule["Properties"]["EventBusName"] == {"Ref": "EventBus"}
    assert rule["Properties"]["Pattern"] == {
        "source": ["timkit"],
        "detail-type": list(DETAIL_TYPES),
        "detail": {"version": [1]},
    }
    grants = [
        (statement["Action"], statement["Resource"])
        for name, function in resources_of_type(template, "AWS::Serverless::Function").items()
        for policy in function["Properties"].get("Policies", [])
        for statement in (policy.get("Statement", []) if isinstance(policy, dict) else [])
        if "execute-api" in str(statement["Action"])
    ]
    assert grants == [
        (
            "execute-api:ManageConnections",
            {"Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${WsApi}/${WsStage}/POST/@connections/*"},
        )
    ]
    endpoint = fanout["Environment"]["Variables"]["WS_MANAGEMENT_ENDPOINT"]
    assert endpoint == {"Fn::Sub": "https://${WsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WsStage}"}
