"""Accounts and robots (docs/protocol.md §5.9, §8.1): account_import, multiaccount_import,
create_robot, delete_robot and get_all_robots."""

from __future__ import annotations

from typing import Any

from local.tim_emulator import codes
from local.tim_emulator.checks import ROBOT_PREFIX, checked_user_id, optional_str, valid_user_id
from local.tim_emulator.codes import ImError
from local.tim_emulator.core import Caller, Reply, Service

MAX_ROBOTS = 20  # docs/protocol.md §8.1
MAX_MULTI_IMPORT = 100  # Tencent's multiaccount_import page: 100 accounts per call


def account_import(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    user = checked_user_id(body.get("UserID"), codes.ACCOUNT_PARAM_INVALID, "UserID")
    if user.startswith(ROBOT_PREFIX):
        raise ImError(codes.ACCOUNT_PARAM_INVALID, f"{ROBOT_PREFIX} IDs are created with create_robot")
    nick = optional_str(body, "Nick", codes.ACCOUNT_PARAM_INVALID)
    face = optional_str(body, "FaceUrl", codes.ACCOUNT_PARAM_INVALID)
    with svc.lock:
        account = svc.add_account(user)
        # Importing an existing account again is allowed and updates its profile.
        account.nick = nick if nick is not None else account.nick
        account.face_url = face if face is not None else account.face_url
    return Reply()


def multiaccount_import(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    accounts = body.get("Accounts")
    if not isinstance(accounts, list) or not accounts:
        raise ImError(codes.ACCOUNT_PARAM_INVALID, "Accounts must be a non-empty array of UserIDs")
    if len(accounts) > MAX_MULTI_IMPORT:
        raise ImError(codes.ACCOUNT_PARAM_INVALID, f"at most {MAX_MULTI_IMPORT} Accounts per call")
    failed = []
    with svc.lock:
        for user in accounts:
            if valid_user_id(user) and not user.startswith(ROBOT_PREFIX):
                svc.add_account(user)
            else:
                failed.append(user)
    return Reply({"FailAccounts": failed})


def create_robot(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    user = checked_user_id(body.get("UserID"), codes.ACCOUNT_PARAM_INVALID, "UserID")
    if not user.startswith(ROBOT_PREFIX) or user == ROBOT_PREFIX:
        raise ImError(codes.ACCOUNT_PARAM_INVALID, f"a robot's UserID must start with {ROBOT_PREFIX}")
    nick = optional_str(body, "Nick", codes.ACCOUNT_PARAM_INVALID) or ""
    face = optional_str(body, "FaceUrl", codes.ACCOUNT_PARAM_INVALID) or ""
    with svc.lock:
        if user in svc.accounts:
            return Reply()  # docs/protocol.md §8.1: re-creating an existing robot is a no-op
        if sum(a.robot for a in svc.accounts.values()) >= MAX_ROBOTS:
            raise ImError(codes.ACCOUNT_LIMIT, f"at most {MAX_ROBOTS} robots per app")
        svc.add_account(user, nick, face, robot=True)
    return Reply()


def delete_robot(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    # CHOICE: the protocol document names no field for delete_robot; it takes create_robot's `UserID`.
    user = checked_user_id(body.get("UserID"), codes.ACCOUNT_PARAM_INVALID, "UserID")
    with svc.lock:
        account = svc.accounts.get(user)
        if account is None or not account.robot:
            raise ImError(codes.ACCOUNT_MISSING, f"robot {user} does not exist")
        del svc.accounts[user]
        svc.friends.pop(user, None)
        for edges in svc.friends.values():
            edges.pop(user, None)
        for group in svc.groups.values():
            group.members.pop(user, None)
    return Reply()


def get_all_robots(svc: Service, body: dict[str, Any], caller: Caller) -> Reply:
    with svc.lock:
        return Reply({"Robot_Account": [a.user_id for a in svc.accounts.values() if a.robot]})
