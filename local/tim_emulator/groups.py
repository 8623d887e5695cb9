"""Groups as threads (docs/protocol.md §10): create_group, get_group_info, modify_group_base_info,
destroy_group, add_group_member and delete_group_member, with their limits, error codes and the
group callbacks of docs/protocol.md §13 (Group.CallbackAfterCreateGroup, AfterNewMemberJoin, AfterMemberExit,
AfterGroupInfoChanged, AfterGroupDestroyed).

Also the group listings of docs/protocol.md §5.8: get_appid_group_list, get_group_member_info, get_role_in_group.
Each API is a function taking the service first, named in :mod:`.rest_api`'s table. Choices made
where the protocol page is silent are marked CHOICE here and in docs/protocol.md.
"""

from __future__ import annotations

from typing import Any

from local.tim_emulator import codes
from local.tim_emulator.checks import (
    GROUP_TYPES,
    MAX_GROUPID_BYTES,
    checked_group_id,
    checked_user_id,
    is_int,
    valid_user_id,
)
from local.tim_emulator.codes import ImError
from local.tim_emulator.core import Caller, Group, Member, Reply, Service

# docs/protocol.md §10.1 / §10.3 / §10.5 / §10.6 / §10.2.
MAX_NAME_BYTES = 30
MAX_INTRODUCTION_BYTES = 240
MAX_NOTIFICATION_BYTES = 300
MAX_FACE_URL_BYTES = 100
MAX_CREATE_MEMBERS = 100
MAX_ADD_MEMBERS = 300
MAX_DELETE_MEMBERS = 100
MAX_INFO_GROUPS = 50
APPLY_JOIN_OPTIONS = frozenset({"FreeAccess", "NeedPermission", "DisableApply"})
# CHOICE: Tencent's default member limit is the plan's; the emulator's "plan" allows 6000 members
# (100,000 in a Community) unless the group sets MaxMemberCount / MaxMemberNum.
DEFAULT_MAX_MEMBERS = 6000
COMMUNITY_MAX_MEMBERS = 100_000
# docs/protocol.md §10.4: the fields whose change fires Group.CallbackAfterGroupInfoChanged.
INFO_CALLBACK_FIELDS = ("Name", "Introduction", "Notification", "FaceUrl")

BAD = codes.GROUP_PARAM_INVALID


def capacity(group: Group) -> int:
    if group.max_members:
        return group.max_members
    return COMMUNITY_MAX_MEMBERS if group.type == "Community" else DEFAULT_MAX_MEMBERS


# ---------------------------------------------------------------------- create_group (docs/protocol.md §10.1)


def create_group(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_type = body.get("Type")
    if group_type not in GROUP_TYPES:
        raise ImError(BAD, f"Type must be one of {', '.join(sorted(GROUP_TYPES))}")
    name = _text(body, "Name", MAX_NAME_BYTES, required=True)
    owner = body.get("Owner_Account")
    if owner is not None:
        owner = checked_user_id(owner, BAD, "Owner_Account")
    raw_members = body.get("MemberList", [])
    if not isinstance(raw_members, list):
        raise ImError(BAD, "MemberList must be an array of {Member_Account, Role}")
    if len(raw_members) > MAX_CREATE_MEMBERS:
        raise ImError(codes.GROUP_TOO_MANY_MEMBERS, f"at most {MAX_CREATE_MEMBERS} members in MemberList")
    members: dict[str, str] = {}
    for item in raw_members:
        if not isinstance(item, dict) or not valid_user_id(item.get("Member_Account")):
            raise ImError(BAD, "MemberList must be an array of {Member_Account, Role}")
        role = item.get("Role", "Member")
        if role not in ("Member", "Admin"):
            raise ImError(BAD, "a member's Role may only be Admin")
        members.setdefault(item["Member_Account"], role)
    if group_type == "AVChatRoom" and members:
        raise ImError(codes.GROUP_NO_PERMISSION, "an AVChatRoom takes no MemberList: users apply to join")
    profile = _profile(body)
    if group_type == "Community" and "apply_join" in profile:
        raise ImError(BAD, "Community groups do not take ApplyJoinOption")
    custom = body.get("GroupId")
    # docs/protocol.md §6.2: a custom ID may not take Tencent's prefix; a Community's ID is the exception,
    # Tencent has those start with "@TGS#_".
    own_prefix = isinstance(custom, str) and custom.startswith("@TGS#")
    community_prefix = group_type == "Community" and isinstance(custom, str) and custom.startswith("@TGS#_")
    if custom is not None and (
        not isinstance(custom, str)
        or not custom
        or len(custom.encode()) > MAX_GROUPID_BYTES
        or (own_prefix and not community_prefix)
    ):
        raise ImError(BAD, f"a custom GroupId is 1-{MAX_GROUPID_BYTES} bytes and may not start with @TGS#")
    support_topic = body.get("SupportTopic")
    if support_topic is not None and (support_topic not in (0, 1) or isinstance(support_topic, bool)):
        raise ImError(BAD, "SupportTopic must be 0 or 1")
    now = svc.now_s()
    with svc.lock:
        unknown = [u for u in [owner, *members] if u is not None and u not in svc.accounts]
        if unknown:
            # CHOICE (docs/protocol.md §10.1 is silent): the whole call fails, naming them.
            raise ImError(BAD, f"accounts do not exist: {', '.join(unknown)}")
        if custom is not None and custom in svc.groups:
            raise ImError(codes.GROUP_ID_TAKEN, f"GroupId {custom} is already used")
        group_id = custom or svc.new_group_id()
        group = Group(group_id, group_type, name, owner, now, info_time=now)
        _apply_profile(group, profile)
        if owner is not None:
            group.members[owner] = Member(owner, "Owner", now)
        for user, role in members.items():
            group.members.setdefault(user, Member(user, role, now))
        svc.groups[group_id] = group
        initial = [{"Member_Account": u} for u in group.members if u != owner]
    event = {
        "GroupId": group_id,
        "Operator_Account": caller.operator,
        "Owner_Account": owner or "",
        "Type": group_type,
        "Name": name,
        "MemberList": initial,
        "EventTime": svc.event_ms(),
    }
    return Reply({"GroupId": group_id}, after=svc.event_jobs("Group.CallbackAfterCreateGroup", event, caller))


# ---------------------------------------------------------------------- get_group_info (docs/protocol.md §10.2)


def get_group_info(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    ids = body.get("GroupIdList")
    if not isinstance(ids, list) or not ids or not all(isinstance(g, str) and g for g in ids):
        raise ImError(BAD, "GroupIdList must be a non-empty array of group IDs")
    if len(ids) > MAX_INFO_GROUPS:
        raise ImError(BAD, f"at most {MAX_INFO_GROUPS} groups per call")
    filters = body.get("ResponseFilter", {})
    if not isinstance(filters, dict) or not all(
        isinstance(v, list) and all(isinstance(f, str) for f in v) for v in filters.values()
    ):
        raise ImError(BAD, "ResponseFilter holds arrays of field names")
    base_filter = filters.get("GroupBaseInfoFilter")
    member_filter = filters.get("MemberInfoFilter")
    with svc.lock:
        infos = [_group_info(svc, g, base_filter, member_filter) for g in ids]
    return Reply({"GroupInfo": infos})


def _group_info(
    svc: Service, group_id: str, base_filter: list[str] | None, member_filter: list[str] | None
) -> dict[str, Any]:
    group = svc.groups.get(group_id)
    if group is None:
        # CHOICE (docs/protocol.md §10.2 shows no missing group): the item carries the group API's "no such group".
        return {"GroupId": group_id, "ErrorCode": codes.GROUP_MISSING, "ErrorInfo": "group does not exist"}
    base: dict[str, Any] = {
        "Type": group.type,
        "Name": group.name,
        "Appid": svc.identity.sdkappid,
        "Introduction": group.introduction,
        "Notification": group.notification,
        "FaceUrl": group.face_url,
        "Owner_Account": group.owner or "",
        "CreateTime": group.created,
        "LastInfoTime": group.info_time,
        "LastMsgTime": group.last_msg_time,
        "NextMsgSeq": group.next_seq,
        "MemberNum": len(group.members),
        "MaxMemberNum": capacity(group),
        "ApplyJoinOption": group.apply_join,
        "MuteAllMember": group.mute_all,
    }
    if base_filter is not None:
        base = {k: v for k, v in base.items() if k in base_filter}
    members = [
        {
            "Member_Account": m.account,
            "Role": m.role,
            "JoinTime": m.join_time,
            "MsgSeq": 0,
            "MsgFlag": "AcceptAndNotify",
            "LastSendMsgTime": m.last_send,
            "MuteUntil": 0,
        }
        for m in group.members.values()
    ]
    if member_filter is not None:
        # docs/protocol.md §10.2's example names the member ID "Account" in the filter; Member_Account
        # always comes back.
        members = [{k: v for k, v in m.items() if k == "Member_Account" or k in member_filter} for m in members]
    info = {"GroupId": group.group_id, "ErrorCode": codes.OK, "ErrorInfo": "", **base, "MemberList": members}
    if group.app_data:
        info["AppDefinedData"] = [{"Key": k, "Value": v} for k, v in group.app_data.items()]
    return info


# ---------------------------------------------------------------------- modify_group_base_info (docs/protocol.md §10.3)


def modify_group_base_info(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    name = _text(body, "Name", MAX_NAME_BYTES, required=False)
    if name == "":
        raise ImError(BAD, "Name may not be empty")
    profile = _profile(body, max_name="MaxMemberNum")
    mute = body.get("MuteAllMember")
    if mute is not None and mute not in ("On", "Off"):
        raise ImError(BAD, "MuteAllMember must be On or Off")
    now = svc.now_s()
    with svc.lock:
        group = svc.group(group_id)
        if group.type == "Community" and "apply_join" in profile:
            raise ImError(BAD, "Community groups do not take ApplyJoinOption")
        if profile.get("max_members", capacity(group)) < len(group.members):
            raise ImError(BAD, "MaxMemberNum is below the current member count")
        if name is not None:
            group.name = name
        _apply_profile(group, profile)
        if mute is not None:
            group.mute_all = mute
        group.info_time = now
        group_type = group.type
    changed = {field: body[field] for field in INFO_CALLBACK_FIELDS if field in body}
    jobs = []
    if changed:
        event = {
            "GroupId": group_id,
            "Type": group_type,
            "Operator_Account": caller.operator,
            **changed,
            "EventTime": svc.event_ms(),
        }
        jobs = svc.event_jobs("Group.CallbackAfterGroupInfoChanged", event, caller)
    return Reply(after=jobs)


# ---------------------------------------------------------------------- destroy_group (docs/protocol.md §10.4)


def destroy_group(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    with svc.lock:
        group = svc.group(group_id)
        del svc.groups[group_id]
        # Its messages go with it: nothing can read them once the group is gone (10010), and a
        # new group given the same ID starts afresh (no duplicate of an old message's Random).
        for key in [k for k in svc.group_msgs if k[0] == group_id]:
            del svc.group_msgs[key]
        for dedupe in [k for k in svc.group_dedupe if k[0] == group_id]:
            del svc.group_dedupe[dedupe]
    event: dict[str, Any] = {
        "GroupId": group_id,
        "Type": group.type,
        "Owner_Account": group.owner or "",
        "Name": group.name,
    }
    if group.type != "Community":  # docs/protocol.md §13.5: no member list for Communities
        event["MemberList"] = [{"Member_Account": m} for m in group.members]
    event["EventTime"] = svc.event_ms()
    return Reply(after=svc.event_jobs("Group.CallbackAfterGroupDestroyed", event, caller))


# ---------------------------------------------------------------------- add_group_member (docs/protocol.md §10.5)


def add_group_member(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    raw = body.get("MemberList")
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(m, dict) and valid_user_id(m.get("Member_Account")) for m in raw)
    ):
        raise ImError(BAD, "MemberList must be a non-empty array of {Member_Account}")
    if len(raw) > MAX_ADD_MEMBERS:
        raise ImError(codes.GROUP_TOO_MANY_MEMBERS, f"at most {MAX_ADD_MEMBERS} members per call")
    _silence(body)
    members = [m["Member_Account"] for m in raw]
    now = svc.now_s()
    with svc.lock:
        group = svc.group(group_id)
        if group.type == "AVChatRoom":
            raise ImError(codes.GROUP_NO_PERMISSION, "nobody can be added to an AVChatRoom: users apply to join")
        if not any(user in svc.accounts for user in members):
            raise ImError(codes.GROUP_ACCOUNT_MISSING, "none of the accounts in MemberList exists")
        joining = [u for u in dict.fromkeys(members) if u in svc.accounts and u not in group.members]
        if len(group.members) + len(joining) > capacity(group):
            # CHOICE: all or nothing, so a caller never has to work out who got in.
            raise ImError(codes.GROUP_FULL, f"the group holds at most {capacity(group)} members")
        results = []
        for user in members:
            # Result: 0 failed (no such account), 1 added, 2 already a member.
            if user not in svc.accounts:
                result = 0
            elif user in group.members:
                result = 2
            else:
                group.members[user] = Member(user, "Member", now)
                result = 1
            results.append({"Member_Account": user, "Result": result})
        group_type = group.type
    jobs = []
    if joining:
        event = {
            "GroupId": group_id,
            "Type": group_type,
            "JoinType": "Invited",
            "Operator_Account": caller.operator,
            "NewMemberList": [{"Member_Account": u} for u in joining],
            "EventTime": svc.event_ms(),
        }
        jobs = svc.event_jobs("Group.CallbackAfterNewMemberJoin", event, caller)
    return Reply({"MemberList": results}, after=jobs)


# ---------------------------------------------------------------------- delete_group_member (docs/protocol.md §10.6)


def delete_group_member(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    group_id = checked_group_id(body.get("GroupId"))
    members = body.get("MemberToDel_Account")
    if not isinstance(members, list) or not members or not all(valid_user_id(m) for m in members):
        raise ImError(BAD, "MemberToDel_Account must be a non-empty array of UserIDs")
    if len(members) > MAX_DELETE_MEMBERS:
        raise ImError(BAD, f"at most {MAX_DELETE_MEMBERS} members per call")
    _silence(body)
    reason = body.get("Reason")
    if reason is not None and not isinstance(reason, str):
        raise ImError(BAD, "Reason must be a string")
    with svc.lock:
        group = svc.group(group_id)
        if group.type == "AVChatRoom":
            raise ImError(BAD, "members cannot be removed from an AVChatRoom (mute them instead)")
        if group.owner is not None and group.owner in members:
            # CHOICE (docs/protocol.md §10.6 is silent): a group keeps its owner; transfer ownership first.
            raise ImError(BAD, "the group owner cannot be removed")
        leaving = [u for u in dict.fromkeys(members) if u in group.members]
        for user in leaving:
            del group.members[user]
        group_type = group.type
    jobs = []
    if leaving:
        event = {
            "GroupId": group_id,
            "Type": group_type,
            "ExitType": "Kicked",
            "Operator_Account": caller.operator,
            "ExitMemberList": [{"Member_Account": u} for u in leaving],
            "EventTime": svc.event_ms(),
        }
        jobs = svc.event_jobs("Group.CallbackAfterMemberExit", event, caller)
    return Reply(after=jobs)


# ---------------------------------------------------------------------- helpers


def _text(body: dict[str, Any], name: str, limit: int, required: bool) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise ImError(BAD, f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value):
        raise ImError(BAD, f"{name} must be a non-empty string" if required else f"{name} must be a string")
    if len(value.encode()) > limit:
        raise ImError(BAD, f"{name} is at most {limit} bytes (UTF-8)")
    return value


def _profile(body: dict[str, Any], max_name: str = "MaxMemberCount") -> dict[str, Any]:
    """The profile fields create_group and modify_group_base_info share, checked (docs/protocol.md §10.1, §10.3)."""
    profile: dict[str, Any] = {}
    for field, key, limit in (
        ("Introduction", "introduction", MAX_INTRODUCTION_BYTES),
        ("Notification", "notification", MAX_NOTIFICATION_BYTES),
        ("FaceUrl", "face_url", MAX_FACE_URL_BYTES),
    ):
        value = _text(body, field, limit, required=False)
        if value is not None:
            profile[key] = value
    max_members = body.get(max_name)
    if max_members is not None:
        if not is_int(max_members) or max_members < 1:
            raise ImError(BAD, f"{max_name} must be a positive integer")
        profile["max_members"] = max_members
    join = body.get("ApplyJoinOption")
    if join is not None:
        if join not in APPLY_JOIN_OPTIONS:
            raise ImError(BAD, f"ApplyJoinOption must be one of {', '.join(sorted(APPLY_JOIN_OPTIONS))}")
        profile["apply_join"] = join
    app_data = body.get("AppDefinedData")
    if app_data is not None:
        if not isinstance(app_data, list) or not all(
            isinstance(i, dict) and isinstance(i.get("Key"), str) and isinstance(i.get("Value"), str) for i in app_data
        ):
            raise ImError(BAD, "AppDefinedData must be an array of {Key, Value} strings")
        profile["app_data"] = {i["Key"]: i["Value"] for i in app_data}
    return profile


def _apply_profile(group: Group, profile: dict[str, Any]) -> None:
    for key, value in profile.items():
        if key == "app_data":
            # docs/protocol.md §10.3: an empty Value deletes the key.
            group.app_data.update(value)
            group.app_data = {k: v for k, v in group.app_data.items() if v != ""}
        else:
            setattr(group, key, value)


def _silence(body: dict[str, Any]) -> None:
    silence = body.get("Silence", 0)
    if silence not in (0, 1) or isinstance(silence, bool):
        raise ImError(BAD, "Silence must be 0 or 1")


# ---------------------------------------------------------------------- group listings (docs/protocol.md §5.8)

MAX_GROUP_LIST_LIMIT = 10_000  # Tencent's get_appid_group_list page
MEMBER_PAGE_LIMIT = 200  # docs/protocol.md §5.8, Limit + Offset
MEMBER_COMMUNITY_LIMIT = 100  # docs/protocol.md §5.8, Limit + Next (Community)
MEMBER_UNPAGED_MAX = 6000  # docs/protocol.md §5.8
MAX_ROLE_ACCOUNTS = 500  # get_role_in_group: https://www.tencentcloud.com/document/product/1047/34963
ROLES = ("Owner", "Admin", "Member")


def get_appid_group_list(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    bad = codes.GROUP_PARAM_INVALID
    limit = body.get("Limit", MAX_GROUP_LIST_LIMIT)
    if not is_int(limit) or not 1 <= limit <= MAX_GROUP_LIST_LIMIT:
        raise ImError(bad, f"Limit must be 1-{MAX_GROUP_LIST_LIMIT}")
    # `Next` is an integer cursor: 0 starts, and an answer of 0 means there is nothing more.
    cursor = body.get("Next", 0)
    if not is_int(cursor) or cursor < 0:
        raise ImError(bad, "Next must be the integer cursor of the previous answer (0 to start)")
    group_type = body.get("GroupType")
    if group_type is not None and group_type not in GROUP_TYPES:
        raise ImError(bad, "GroupType is not a group type")
    with svc.lock:
        ids = [g.group_id for g in svc.groups.values() if group_type in (None, g.type)]
    page = ids[cursor : cursor + limit]
    following = cursor + len(page)
    return Reply(
        {
            "TotalCount": len(ids),
            "GroupIdList": [{"GroupId": g} for g in page],
            "Next": following if following < len(ids) else 0,
        }
    )


def get_group_member_info(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    bad = codes.GROUP_PARAM_INVALID
    group_id = checked_group_id(body.get("GroupId"))
    roles = body.get("MemberRoleFilter")
    if roles is not None and (not isinstance(roles, list) or not set(roles) <= set(ROLES)):
        raise ImError(bad, f"MemberRoleFilter may hold {', '.join(ROLES)}")
    info_filter = body.get("MemberInfoFilter")
    if info_filter is not None and not (isinstance(info_filter, list) and all(isinstance(f, str) for f in info_filter)):
        raise ImError(bad, "MemberInfoFilter must be an array of field names")
    with svc.lock:
        group = svc.group(group_id)
        members = [m for m in group.members.values() if roles is None or m.role in roles]
        total = len(group.members)
        community = group.type == "Community"
    fields: dict[str, Any] = {"MemberNum": total}
    limit = body.get("Limit")
    if community and "Next" in body:
        # docs/protocol.md §5.8, Community: Limit (≤ 100) + an opaque Next cursor, "" to start and at the end.
        if not is_int(limit) or not 1 <= limit <= MEMBER_COMMUNITY_LIMIT:
            raise ImError(bad, f"Limit must be 1-{MEMBER_COMMUNITY_LIMIT} with Next")
        start = _decode_cursor(body["Next"])
        page = members[start : start + limit]
        following = start + len(page)
        fields["Next"] = _encode_cursor(following) if following < len(members) else ""
    else:
        offset = body.get("Offset", 0)
        if not is_int(offset) or offset < 0:
            raise ImError(bad, "Offset must be a non-negative integer")
        if limit is None:
            page = members[offset : offset + MEMBER_UNPAGED_MAX]
        elif not is_int(limit) or not 1 <= limit <= MEMBER_PAGE_LIMIT:
            raise ImError(bad, f"Limit must be 1-{MEMBER_PAGE_LIMIT}")
        else:
            page = members[offset : offset + limit]
    fields["MemberList"] = [_member_info(m, info_filter, "AppDefinedDataFilter_GroupMember" in body) for m in page]
    return Reply(fields)


def get_role_in_group(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    """Each account's role in the group, "NotMember" for the others (Tencent's get_role_in_group:
    https://www.tencentcloud.com/document/product/1047/34963). AVChatRoom groups are refused
    with 10007, as Tencent does. CHOICE: topics are not modelled; a TopicId (Community groups
    only, as Tencent says) answers with the group's own roles."""
    bad = codes.GROUP_PARAM_INVALID
    group_id = checked_group_id(body.get("GroupId"))
    accounts = body.get("User_Account")
    if not isinstance(accounts, list) or not accounts or not all(valid_user_id(a) for a in accounts):
        raise ImError(bad, "User_Account must be a non-empty array of UserIDs")
    if len(accounts) > MAX_ROLE_ACCOUNTS:
        raise ImError(bad, f"at most {MAX_ROLE_ACCOUNTS} User_Account per call")
    topic = body.get("TopicId")
    if topic is not None and not isinstance(topic, str):
        raise ImError(bad, "TopicId must be a string")
    with svc.lock:
        group = svc.group(group_id)
        if group.type == "AVChatRoom":
            raise ImError(codes.GROUP_NO_PERMISSION, "get_role_in_group does not support AVChatRoom groups")
        if topic is not None and group.type != "Community":
            raise ImError(bad, "TopicId is for Community groups only")
        roles = [group.members[a].role if a in group.members else "NotMember" for a in accounts]
    return Reply({"UserIdList": [{"Member_Account": a, "Role": r} for a, r in zip(accounts, roles, strict=True)]})


def _member_info(member: Member, info_filter: list[str] | None, app_data: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "Member_Account": member.account,
        "Role": member.role,
        "JoinTime": member.join_time,
        "MsgSeq": 0,
        "MsgFlag": "AcceptAndNotify",
        "LastSendMsgTime": member.last_send,
        "MuteUntil": 0,
        "NameCard": "",
    }
    if app_data:
        info["AppMemberDefinedData"] = []
    if info_filter is not None:
        info = {k: v for k, v in info.items() if k == "Member_Account" or k in info_filter}
    return info


def _encode_cursor(index: int) -> str:
    return f"m{index:x}"


def _decode_cursor(value: Any) -> int:
    if value == "":
        return 0
    if isinstance(value, str) and value.startswith("m"):
        try:
            return int(value[1:], 16)
        except ValueError:
            pass
    raise ImError(codes.GROUP_PARAM_INVALID, 'Next must be "" or the cursor of the previous answer')
