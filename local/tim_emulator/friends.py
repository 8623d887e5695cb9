"""Friends (docs/protocol.md §5.1): friend_add and friend_check, and the friendship a client's
C2C send needs."""

from __future__ import annotations

from typing import Any

from local.tim_emulator import codes
from local.tim_emulator.checks import checked_user_id, valid_user_id
from local.tim_emulator.codes import ImError
from local.tim_emulator.core import Caller, Reply, Service


def friend_add(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    bad = codes.FRIEND_PARAM_INVALID
    owner = checked_user_id(body.get("From_Account"), bad, "From_Account")
    items = body.get("AddFriendItem")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ImError(bad, "AddFriendItem must be a non-empty array of objects")
    add_type = body.get("AddType", "Add_Type_Both")
    if add_type not in ("Add_Type_Both", "Add_Type_Single"):
        raise ImError(bad, "AddType must be Add_Type_Both or Add_Type_Single")
    force = body.get("ForceAddFlags", 0)
    if force not in (0, 1) or isinstance(force, bool):
        raise ImError(bad, "ForceAddFlags must be 0 or 1")
    results, failed = [], []
    now = svc.now_s()
    with svc.lock:
        if owner not in svc.accounts:
            raise ImError(codes.FRIEND_ACCOUNT_MISSING, f"From_Account {owner} does not exist")
        for item in items:
            target = item.get("To_Account")
            code, info = _add_friend(svc, owner, item, add_type == "Add_Type_Both", force == 1, now)
            results.append({"To_Account": target, "ResultCode": code, "ResultInfo": info})
            if code not in (codes.OK, codes.FRIEND_PENDING):
                failed.append(target)
    fields: dict[str, Any] = {"ResultItem": results}
    if failed:
        fields["Fail_Account"] = failed
    fields["ErrorDisplay"] = ""
    return Reply(fields)


def _add_friend(svc: Service, owner: str, item: dict[str, Any], both: bool, force: bool, now: int) -> tuple[int, str]:
    target = item.get("To_Account")
    if not valid_user_id(target) or target == owner:
        return codes.FRIEND_PARAM_INVALID, "To_Account is missing, invalid or the account itself"
    source = item.get("AddSource")
    if source is not None and not _valid_add_source(source):
        return codes.FRIEND_PARAM_INVALID, "AddSource must be AddSource_Type_ + up to 8 letters"
    if target not in svc.accounts:
        return codes.FRIEND_ACCOUNT_MISSING, f"To_Account {target} does not exist"
    wanted = [(owner, target), (target, owner)] if both else [(owner, target)]
    missing = [(a, b) for a, b in wanted if b not in svc.friends.get(a, {})]
    if not missing:
        return codes.FRIEND_PARAM_INVALID, codes.FRIEND_EXISTS_INFO
    if not force:
        svc.friend_requests.append({"From_Account": owner, "To_Account": target, "time": now})
        return codes.FRIEND_PENDING, "waiting for the peer's confirmation"
    for a, _ in missing:
        if len(svc.friends.get(a, {})) >= codes.MAX_FRIENDS:
            return (codes.FRIEND_LIST_FULL if a == owner else codes.FRIEND_PEER_LIST_FULL), "friend list full"
    for a, b in missing:
        svc.friends.setdefault(a, {})[b] = {
            "Remark": item.get("Remark", "") if a == owner else "",
            "GroupName": item.get("GroupName", "") if a == owner else "",
            "AddSource": source or "",
            "AddTime": now,
        }
    return codes.OK, ""


def friend_check(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    bad = codes.FRIEND_PARAM_INVALID
    owner = checked_user_id(body.get("From_Account"), bad, "From_Account")
    targets = body.get("To_Account")
    if not isinstance(targets, list) or not targets:
        raise ImError(bad, "To_Account must be a non-empty array")
    if len(targets) > codes.MAX_FRIEND_CHECK:
        raise ImError(bad, f"at most {codes.MAX_FRIEND_CHECK} To_Account per call")
    check = body.get("CheckType")
    if check not in ("CheckResult_Type_Both", "CheckResult_Type_Single"):
        raise ImError(bad, "CheckType must be CheckResult_Type_Both or CheckResult_Type_Single")
    items, failed = [], []
    with svc.lock:
        if owner not in svc.accounts:
            raise ImError(codes.FRIEND_ACCOUNT_MISSING, f"From_Account {owner} does not exist")
        for target in targets:
            if not valid_user_id(target):
                items.append(
                    {
                        "To_Account": target,
                        "Relation": "CheckResult_Type_NoRelation",
                        "ResultCode": bad,
                        "ResultInfo": "invalid To_Account",
                    }
                )
                failed.append(target)
                continue
            a_has_b = target in svc.friends.get(owner, {})
            b_has_a = owner in svc.friends.get(target, {})
            items.append(
                {
                    "To_Account": target,
                    "Relation": _relation(a_has_b, b_has_a, check == "CheckResult_Type_Both"),
                    "ResultCode": 0,
                    "ResultInfo": "",
                }
            )
    fields: dict[str, Any] = {"InfoItem": items}
    if failed:
        fields["Fail_Account"] = failed
    fields["ErrorDisplay"] = ""
    return Reply(fields)


def check_friendship(svc: Service, sender: str, to: str) -> None:
    if not svc.settings().c2c_friend_check or svc.accounts[sender].robot:
        return
    sender_has = to in svc.friends.get(sender, {})
    peer_has = sender in svc.friends.get(to, {})
    if not sender_has and not peer_has:
        raise ImError(codes.C2C_NOT_FRIENDS, "not friends")
    if not peer_has:
        raise ImError(codes.C2C_NOT_FRIEND_OF_PEER, "the sender is not in the recipient's friend list")
    if not sender_has:
        raise ImError(codes.C2C_PEER_NOT_FRIEND, "the recipient is not in the sender's friend list")


def _valid_add_source(value: Any) -> bool:
    prefix = "AddSource_Type_"
    keyword = value[len(prefix) :] if isinstance(value, str) and value.startswith(prefix) else ""
    return 0 < len(keyword) <= 8 and keyword.isascii() and keyword.isalpha()


def _relation(a_has_b: bool, b_has_a: bool, both: bool) -> str:
    if not both:
        return "CheckResult_Type_AWithB" if a_has_b else "CheckResult_Type_NoRelation"
    if a_has_b and b_has_a:
        return "CheckResult_Type_BothWay"
    if a_has_b:
        return "CheckResult_Type_AWithB"
    if b_has_a:
        return "CheckResult_Type_BWithA"
    return "CheckResult_Type_NoRelation"
