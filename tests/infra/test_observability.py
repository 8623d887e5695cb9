"""template.yaml for operators: the dashboard and the alarms name only metrics the code publishes
(timkit.metrics.PUBLISHED, by function), watch every queue, and notify; tracing stays off the
callback; what every function shares is set once, in Globals; every function has a sample event
(each accepted by its handler: tests/integration/test_sample_events.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cfn_yaml import load_template
from tests.infra.test_template import function_setting, ref_target, resources_of_type
from timkit.metrics import BEFORE_SEND_DURATION, CALLBACK_OUTCOMES, NAMESPACE, POLICY_LOAD_FAILED, PUBLISHED

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BUDGET_MS = 2000  # Tencent's wait for a before-send answer (docs/protocol.md §1.4)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(template, "AWS::Serverless::Function")


def always_deployed(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The functions every stack has: an optional one (a Condition: the event-bus example) may not
    exist, and a dashboard cannot name a resource that may not exist."""
    return {name: f for name, f in functions(template).items() if "Condition" not in f}


def services(template: dict[str, Any]) -> dict[str, str]:
    """Each function's service name (POWERTOOLS_SERVICE_NAME) and its folder under functions/."""
    found = {}
    for name, function in functions(template).items():
        service = function_setting(template, name, "Environment")["Variables"]["POWERTOOLS_SERVICE_NAME"]
        assert service not in found, f"{name} shares its service name {service}"
        found[service] = Path(function["Properties"]["CodeUri"]).name
    return found


def folders(template: dict[str, Any]) -> dict[str, str]:
    """Each function's logical id by its folder under functions/."""
    return {Path(f["Properties"]["CodeUri"]).name: name for name, f in functions(template).items()}


# --- the dashboard ----------------------------------------------------------------------------

SUB = re.compile(r"\$\{([A-Za-z0-9:]+)(?:\.([A-Za-z]+))?\}")


def resolved_body(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's JSON as CloudFormation makes it, each ${Resource[.Attr]} written as a marker
    naming what it refers to (checked to exist) and each ${Parameter} as its default."""
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]

    def value(match: re.Match[str]) -> str:
        name, attribute = match.groups()
        if name in template.get("Parameters", {}):
            return str(template["Parameters"][name]["Default"])
        if name.startswith("AWS::"):
            return f"<{name}>"
        assert name in template["Resources"], f"the dashboard refers to {name}, which the template lacks"
        return f"<{name}.{attribute}>" if attribute else f"<{name}>"

    return json.loads(SUB.sub(value, body))


def dashboard_metrics(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, name, dimensions, options) of every metric the dashboard graphs."""
    for widget in resolved_body(template)["widgets"]:
        for row in widget["properties"].get("metrics", []):
            options = row[-1] if isinstance(row[-1], dict) else {}
            fields = row[:-1] if options else row
            assert "." not in fields, f"write metrics out in full: {row}"
            namespace, name, *pairs = fields
            yield namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)), options


def test_the_dashboard_graphs_only_metrics_the_code_publishes(template: dict[str, Any]) -> None:
    by_service, logical = services(template), folders(template)
    for namespace, name, dimensions, _ in dashboard_metrics(template):
        if namespace != NAMESPACE:
            continue
        folder = by_service[dimensions["service"]]
        assert name in PUBLISHED[folder], f"{folder} does not publish {name}"
        if name == "ColdStart":
            assert dimensions == {"function_name": f"<{logical[folder]}>", "service": dimensions["service"]}
        else:
            assert set(dimensions) == {"service"}, name


def test_the_dashboard_shows_what_operators_asked_for(template: dict[str, Any]) -> None:
    graphed = {(name, dimensions.get("service")) for namespace, name, dimensions, _ in dashboard_metrics(template)}
    # Every callback outcome, the failure policy's answers and the policy loads.
    assert {(name, "tim-callback") for name in CALLBACK_OUTCOMES.values()} <= graphed
    assert {(POLICY_LOAD_FAILED, "tim-callback"), (POLICY_LOAD_FAILED, "tim-merger-api")} <= graphed
    # Auth rejections on both doors, broadcast progress, merger traffic and chatbot streams.
    assert {("CallbackAuthRejected", "tim-callback"), ("MergerAuthRejected", "tim-merger-authorizer")} <= graphed
    assert {
        ("BroadcastItemSettled", "tim-broadcast-worker"),
        ("BroadcastStarted", "tim-broadcast-scheduler"),
    } <= graphed
    assert {("MergerUploaded", "tim-merger-api"), ("MergerCaptured", "tim-event-processor")} <= graphed
    assert {("ChatbotAnswered", "tim-chatbot-worker"), ("ChatbotFailed", "tim-chatbot-worker")} <= graphed
    # A cold start of every function.
    deployed = {s for s, folder in services(template).items() if folders(template)[folder] in always_deployed(template)}
    assert {service for name, service in graphed if name == "ColdStart"} == deployed


def test_before_send_time_is_graphed_at_p50_and_p99_against_the_2_s_budget(template: dict[str, Any]) -> None:
    (widget,) = [
        w["properties"]
        for w in resolved_body(template)["widgets"]
        if any(row[1] == BEFORE_SEND_DURATION for row in w["properties"].get("metrics", []))
    ]
    stats = {row[-1].get("stat", widget["stat"]) for row in widget["metrics"]}
    assert {"p50", "p99"} <= stats
    lines = {line["value"] for line in widget["annotations"]["horizontal"]}
    assert BUDGET_MS in lines
    assert template["Parameters"]["BeforeSendDeadlineMs"]["Default"] in lines


def test_the_dashboard_shows_every_queue_and_every_function(template: dict[str, Any]) -> None:
    queues = set(resources_of_type(template, "AWS::SQS::Queue"))
    depth = {
        dimensions["QueueName"]
        for namespace, name, dimensions, _ in dashboard_metrics(template)
        if (namespace, name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    assert depth == {f"<{queue}.QueueName>" for queue in queues}
    errors = {
        dimensions["FunctionName"]
        for namespace, name, dimensions, _ in dashboard_metrics(template)
        if (namespace, name) == ("AWS/Lambda", "Errors")
    }
    assert errors == {f"<{name}>" for name in always_deployed(template)}


# --- the alarms -------------------------------------------------------------------------------


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: a["Properties"] for name, a in resources_of_type(template, "AWS::CloudWatch::Alarm").items()}


def test_every_alarm_on_a_timkit_metric_names_one_the_code_publishes(template: dict[str, Any]) -> None:
    by_service = services(template)
    watched = [a for a in alarms(template).values() if a.get("Namespace") == NAMESPACE]
    assert watched
    for alarm in watched:
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "service"
        assert alarm["MetricName"] in PUBLISHED[by_service[dimension["Value"]]], alarm["MetricName"]


def alarms_on(template: dict[str, Any], metric: str, service: str) -> list[dict[str, Any]]:
    return [
        a
        for a in alarms(template).values()
        if (a.get("Namespace"), a.get("MetricName")) == (NAMESPACE, metric)
        and a["Dimensions"] == [{"Name": "service", "Value": service}]
    ]


@pytest.mark.parametrize(
    ("metric", "service"),
    [
        ("CallbackFailedPolicy", "tim-callback"),
        (POLICY_LOAD_FAILED, "tim-callback"),
        (POLICY_LOAD_FAILED, "tim-merger-api"),
    ],
)
def test_any_unmoderated_answer_or_broken_policy_raises_an_alarm(
    template: dict[str, Any], metric: str, service: str
) -> None:
    (alarm,) = alarms_on(template, metric, service)
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "GreaterThanThreshold", 0)


def test_before_send_p99_near_the_budget_raises_an_alarm(template: dict[str, Any]) -> None:
    (alarm,) = alarms_on(template, BEFORE_SEND_DURATION, "tim-callback")
    assert alarm["ExtendedStatistic"] == "p99"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    threshold = template["Parameters"][ref_target(alarm["Threshold"])]
    assert threshold["MinValue"] <= threshold["Default"] < BUDGET_MS
    assert threshold["MaxValue"] <= BUDGET_MS


@pytest.mark.parametrize(
    ("metric", "service", "parameter"),
    [
        ("CallbackAuthRejected", "tim-callback", "CallbackAuthRejectionsAlarmThreshold"),
        ("MergerAuthRejected", "tim-merger-authorizer", "MergerAuthRejectionsAlarmThreshold"),
    ],
)
def test_auth_rejections_above_a_parameter_raise_an_alarm(
    template: dict[str, Any], metric: str, service: str, parameter: str
) -> None:
    (alarm,) = alarms_on(template, metric, service)
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == ("Sum", "GreaterThanThreshold")
    assert alarm["Threshold"] == {"Ref": parameter}
    assert template["Parameters"][parameter]["Type"] == "Number"


def test_every_alarm_also_notifies_the_optional_topic(template: dict[str, Any]) -> None:
    own_topic = {"Fn::If": ["HasAlarmTopicArn", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]}
    assert template["Conditions"]["HasAlarmTopicArn"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    for name, alarm in alarms(template).items():
        for actions in ("AlarmActions", "OKActions"):
            assert alarm[actions] == [{"Ref": "AlarmTopic"}, own_topic], (name, actions)


# --- tracing and logs -------------------------------------------------------------------------


def test_tracing_is_a_parameter_for_every_function_but_the_callback(template: dict[str, Any]) -> None:
    assert template["Conditions"]["TracingOn"] == {"Fn::Equals": [{"Ref": "EnableTracing"}, "true"]}
    assert template["Parameters"]["EnableTracing"]["AllowedValues"] == ["true", "false"]
    for name in functions(template):
        expected = "Disabled" if name == "TimCallbackFunction" else {"Fn::If": ["TracingOn", "Active", "PassThrough"]}
        assert function_setting(template, name, "Tracing") == expected, name


# --- Globals ----------------------------------------------------------------------------------


def test_a_variable_every_function_sets_alike_is_set_in_globals(template: dict[str, Any]) -> None:
    own = [(f["Properties"].get("Environment") or {}).get("Variables") or {} for f in functions(template).values()]
    repeated = {
        name: value
        for name, value in own[0].items()
        if all(name in variables and variables[name] == value for variables in own[1:])
    }
    assert repeated == {}, "set these once, in Globals.Function.Environment"
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    assert shared["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    # A function's own value would hide the shared one (SAM lets the function's win).
    for name, variables in zip(functions(template), own, strict=True):
        assert not set(variables) & set(shared), name


# --- sample events ----------------------------------------------------------------------------


def test_every_function_has_a_sample_event_and_every_sample_a_function(template: dict[str, Any]) -> None:
    samples = {path.parent.name for path in (ROOT / "events").glob("*/*.json")}
    assert samples == set(folders(template))
