"""Each function validates the settings it needs at cold start: its handler module, imported with
one required variable missing (or empty), does not start, and the error names the variable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.handlers import FUNCTION_SETTINGS, load_handler, required_settings
from tests.moto_env import offline_aws
from timkit.config import SettingsError

# A value of the right type for every variable any model requires.
VALUES = {"TIM_SDKAPPID": "1400000001", "WS_MANAGEMENT_ENDPOINT": "https://ws.example/live"}
CASES = [(function, name) for function, model in FUNCTION_SETTINGS.items() for name in required_settings(model)]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Offline AWS, and none of the settings set from outside the test."""
    with offline_aws(monkeypatch):
        for model in FUNCTION_SETTINGS.values():
            for name in model.model_fields:
                monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tim-settings-test")
        yield monkeypatch


def set_required(monkeypatch: pytest.MonkeyPatch, function: str) -> None:
    for name in required_settings(FUNCTION_SETTINGS[function]):
        monkeypatch.setenv(name, VALUES.get(name, f"{name.lower()}-value"))


@pytest.mark.parametrize("function", FUNCTION_SETTINGS)
def test_a_handler_starts_with_its_required_settings_and_uses_its_model(
    environment: pytest.MonkeyPatch, function: str
) -> None:
    set_required(environment, function)
    with load_handler(function, f"settings_{function}_app") as module:
        assert type(module.settings) is FUNCTION_SETTINGS[function]


@pytest.mark.parametrize(("function", "variable"), CASES)
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_a_handler_without_a_required_setting_does_not_start_and_names_it(
    environment: pytest.MonkeyPatch, function: str, variable: str, how: str
) -> None:
    set_required(environment, function)
    if how == "unset":
        environment.delenv(variable)
    else:
        environment.setenv(variable, "")
    with (
        pytest.raises(SettingsError, match=rf"\b{variable}\b") as refused,
        load_handler(function, f"settings_{function}_without_{variable}_app"),
    ):
        pass
    # The one variable only: the others are set.
    assert [name for name in required_settings(FUNCTION_SETTINGS[function]) if name in str(refused.value)] == [variable]


def test_the_error_quotes_no_other_environment_variable(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("AWS_SECRET_ACCESS_KEY", "do-not-print-me")
    environment.setenv("TIM_SDKAPPID", "not-a-number")
    with pytest.raises(SettingsError) as refused, load_handler("merger_authorizer", "settings_quoting_app"):
        pass
    assert "TIM_SDKAPPID" in str(refused.value) and "do-not-print-me" not in str(refused.value)
