"""The fan-out's group member cache (timkit.ws.fanout.MemberCache): how fresh the members it gives are."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

from timkit.ws.fanout import MemberCache


class Group:
    """A group whose members change, as the REST client reads them."""

    def __init__(self, *members: str) -> None:
        self.members = list(members)

    def iter_group_members(self, group_id: str) -> Iterator[SimpleNamespace]:
        return iter([SimpleNamespace(Member_Account=m) for m in self.members])


def test_members_are_kept_for_the_cache_time_then_read_again() -> None:
    group, now = Group("alice", "bob"), [100.0]
    cache = MemberCache(lambda: group, 10, clock=lambda: now[0])
    assert cache.members("room") == {"alice", "bob"}
    group.members.remove("bob")
    now[0] += 9.9
    assert cache.members("room") == {"alice", "bob"}  # still within the 10 s
    now[0] += 0.2
    assert cache.members("room") == {"alice"}


def test_a_membership_event_drops_the_group_at_once() -> None:
    group = Group("alice", "bob")
    cache = MemberCache(lambda: group, 3600, clock=lambda: 0.0)
    assert cache.members("room") == {"alice", "bob"}
    group.members.append("carol")
    cache.forget("room")
    assert cache.members("room") == {"alice", "bob", "carol"}


def test_no_cache_time_reads_every_time() -> None:
    group = Group("alice")
    cache = MemberCache(lambda: group, 0, clock=lambda: 0.0)
    assert cache.members("room") == {"alice"}
    group.members.append("bob")
    assert cache.members("room") == {"alice", "bob"}
