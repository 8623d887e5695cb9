"""BotConfigService: a configuration is stored only for one of the app's robots, whose list is
trusted for a few seconds; reading and deleting need no robot (a deleted robot's config can go)."""

from __future__ import annotations

from typing import Any

import pytest

from timkit.admin import BotConfigService, ConfigNotFound, RobotNotFound
from timkit.models.botconfig import BotConfig

CONFIG = BotConfig(provider="bedrock", model="m")


class Tencent:
    """The robots Tencent lists, and how often it was asked (its calls are paced and cost budget)."""

    def __init__(self, *robots: str) -> None:
        self.robots = list(robots)
        self.asked = 0

    def get_all_robots(self) -> list[str]:
        self.asked += 1
        return list(self.robots)


class Store:
    def __init__(self) -> None:
        self.configs: dict[str, BotConfig] = {}

    def put_config(self, bot: str, config: BotConfig) -> None:
        self.configs[bot] = config

    def get_config(self, bot: str) -> BotConfig | None:
        return self.configs.get(bot)

    def delete_config(self, bot: str) -> bool:
        return self.configs.pop(bot, None) is not None


def service(tencent: Tencent, store: Store, now: list[float]) -> BotConfigService:
    rest: Any = tencent
    return BotConfigService(lambda: rest, store, robots_ttl=5, clock=lambda: now[0])


def test_a_config_is_stored_for_a_robot_and_refused_for_another() -> None:
    tencent, store, now = Tencent("@RBT#a"), Store(), [0.0]
    configs = service(tencent, store, now)
    assert configs.put("@RBT#a", CONFIG) == CONFIG
    with pytest.raises(RobotNotFound, match="@RBT#b"):
        configs.put("@RBT#b", CONFIG)
    assert store.configs == {"@RBT#a": CONFIG}


def test_the_robot_list_is_trusted_for_its_ttl_and_a_robot_not_in_it_is_looked_up_again() -> None:
    tencent, store, now = Tencent("@RBT#a"), Store(), [0.0]
    configs = service(tencent, store, now)
    configs.put("@RBT#a", CONFIG)
    tencent.robots = ["@RBT#b"]  # a deleted, b created
    now[0] = 4.9
    configs.put("@RBT#a", CONFIG)  # still trusted
    configs.put("@RBT#b", CONFIG)  # not in the list: asked again at once
    assert tencent.asked == 2
    now[0] = 9.9
    with pytest.raises(RobotNotFound):
        configs.put("@RBT#a", CONFIG)


def test_get_and_delete_need_a_config_but_no_robot() -> None:
    tencent, store, now = Tencent(), Store(), [0.0]
    configs = service(tencent, store, now)
    store.configs["@RBT#gone"] = CONFIG
    assert configs.get("@RBT#gone") == CONFIG
    configs.delete("@RBT#gone")
    with pytest.raises(ConfigNotFound, match="@RBT#gone has no configuration"):
        configs.get("@RBT#gone")
    with pytest.raises(ConfigNotFound):
        configs.delete("@RBT#gone")
    assert tencent.asked == 0
