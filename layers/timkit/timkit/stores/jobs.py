"""Broadcast jobs in DynamoDB: one item per job, one per target group, and the explicit group list.

    pk = JOB#<id>  sk = JOB        the job: what to send, schedule, state, counters
                   sk = TARGETS    the groups a job names (kept apart: the job item is read often)
                   sk = G#<group>  one group: state, the message's Random, attempts, outcome

Every change of a group's state and the job's counters happen in one transaction, so the counters
are exact however many workers run, retry or crash. A group's state only moves forward:
pending → sending → sent | failed, or pending → cancelled.
"""

from __future__ import annotations

import builtins
import contextlib
import random
import time
from typing import Any, Literal, cast

import boto3
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from timkit.models.admin import MAX_PAGE, GroupState, JobKind
from timkit.stores.dynamo import attr, attrs, plain
from timkit.stores.paging import decode_token, encode_token

# TransactWriteItems takes 100 actions: a page of groups is planned with its job update.
PLAN_PAGE = 99
LIST_PK = "JOBS"
# Runs a cron job lists (each run is a job of its own, listed by GET /admin/broadcasts too).
KEEP_RUNS = 100


def _pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def _key(job_id: str, sk: str) -> dict[str, Any]:
    return attrs({"pk": _pk(job_id), "sk": sk})


GROUP_SK = "G#"


def _group_sk(group_id: str) -> str:
    return GROUP_SK + group_id


def _cancelled_reasons(exc: ClientError) -> list[str]:
    return [reason.get("Code", "") for reason in exc.response.get("CancellationReasons", [])]


# Workers finishing groups of one job update its item in concurrent transactions; DynamoDB cancels
# one of two that meet (TransactionConflict) and it is simply tried again.
CONFLICT_ATTEMPTS = 8


class _Record(BaseModel):
    # Items carry their keys (and the listing index's) beside these: the store's business.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Job(_Record):
    """A job's item. ``message`` is the Outgoing message as JSON (kept as given: only what the
    request set); ``schedule`` the Schedule as JSON; a cron job's runs are jobs of their own,
    ``kind`` "run", naming it as ``parent_id``."""

    job_id: str
    kind: Literal["once", "recurring", "run"]
    # Jobs stored before message and friends jobs existed are broadcasts.
    job_kind: JobKind = "broadcast"
    created_at: int
    # A broadcast's Outgoing message; a message job's MessageRequest; a friends job's ScheduledFriends.
    message: str
    all_groups: bool
    status: Literal["started", "scheduled"]
    schedule: str | None = None
    schedule_name: str | None = None
    parent_id: str | None = None
    # What is still pending is not stored: it is total less the three end states.
    total: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    failed_codes: dict[str, int] = {}
    cursor: str = ""
    planned: bool = False
    runs: list[str] = []
    cancelled_at: int | None = None


class JobGroup(_Record):
    """One target group's item, as far as it is read (its lease and times are the claim's business)."""

    group_id: str
    state: GroupState
    # Every attempt sends with it (a new one only after Tencent dropped the message unsent).
    random: int
    attempts: int = 0
    # The outcome: Tencent's code and why (also of an attempt handed back), the sent message's seq.
    info: str = ""
    code: int | None = None
    msg_seq: int | None = None
    # A message or friends job's one target: the send's answer, as JSON.
    result: str | None = None


class Claim(_Record):
    """A group taken for sending: the Random to send with, and when it was first tried."""

    random: int
    attempts: int
    first_try_ms: int


class JobStore:
    def __init__(self, table: str, dynamodb: Any | None = None) -> None:
        self._table = table
        self._db = dynamodb or boto3.client("dynamodb")

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                self._db.transact_write_items(TransactItems=cast(Any, actions))  # the stubs' TypedDicts
                return
            except ClientError as exc:
                if attempt == CONFLICT_ATTEMPTS or "TransactionConflict" not in _cancelled_reasons(exc):
                    raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))

    # ------------------------------------------------------------------ jobs

    def create(self, job: Job, groups: list[str] | None) -> bool:
        """Stores a new job (and the groups it names); False if its ID exists."""
        # Runs are added as they start (add_run); cancelled_at and an absent schedule are not written, nor
        # the kind of a broadcast (items stay as they were before there were other kinds).
        unwritten = {"runs", "job_kind"} if job.job_kind == "broadcast" else {"runs"}
        item = {
            **job.model_dump(exclude=unwritten, exclude_none=True),
            "list_pk": LIST_PK,
            "list_sk": f"{job.created_at:013d}#{job.job_id}",
        }
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {**_key(job.job_id, "JOB"), **attrs(item)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if groups is not None:
            targets = {**_key(job.job_id, "TARGETS"), **attrs({"groups": groups})}
            actions.append({"Put": {"TableName": self._table, "Item": targets}})
        try:
            self._transact(actions)
        except ClientError as exc:
            if "ConditionalCheckFailed" in _cancelled_reasons(exc):
                return False
            raise
        return True

    def get(self, job_id: str) -> Job | None:
        found = self._db.get_item(TableName=self._table, Key=_key(job_id, "JOB"), ConsistentRead=True).get("Item")
        return Job.model_validate(plain(found)) if found else None

    def targets(self, job_id: str) -> list[str]:
        found = self._db.get_item(TableName=self._table, Key=_key(job_id, "TARGETS"), ConsistentRead=True)
        return plain(found["Item"])["groups"] if "Item" in found else []

    def list(self, limit: int, token: str | None) -> tuple[builtins.list[Job], str | None]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "ByCreated",
            "KeyConditionExpression": "list_pk = :jobs",
            "ExpressionAttributeValues": attrs({":jobs": LIST_PK}),
            "ScanIndexForward": False,
            "Limit": min(limit, MAX_PAGE),
        }
        start = decode_token(
            token, lambda key: set(key) == {"pk", "sk", "list_pk", "list_sk"} and key["list_pk"] == LIST_PK
        )
        if start is not None:
            query["ExclusiveStartKey"] = start
        page = self._db.query(**query)
        return [Job.model_validate(plain(i)) for i in page.get("Items", [])], encode_token(page.get("LastEvaluatedKey"))

    def set_started(self, job_id: str) -> bool:
        """A scheduled job starts once: False if it already started or was cancelled."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(job_id, "JOB"),
                UpdateExpression="SET #status = :started",
                ConditionExpression="#status = :scheduled AND attribute_not_exists(cancelled_at)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=attrs({":started": "started", ":scheduled": "scheduled"}),
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def add_run(self, job_id: str, run_id: str) -> None:
        """Notes a cron job's new run; only the newest KEEP_RUNS are kept (the item stays small)."""
        answer = self._db.update_item(
            TableName=self._table,
            Key=_key(job_id, "JOB"),
            UpdateExpression="SET runs = list_append(if_not_exists(runs, :none), :run)",
            ExpressionAttributeValues=attrs({":run": [run_id], ":none": []}),
            ReturnValues="UPDATED_NEW",
        )
        extra = len(plain(answer["Attributes"])["runs"]) - KEEP_RUNS
        if extra > 0:
            with contextlib.suppress(ClientError):  # another firing trimmed them first
                self._db.update_item(
                    TableName=self._table,
                    Key=_key(job_id, "JOB"),
                    UpdateExpression="REMOVE " + ", ".join(f"runs[{i}]" for i in range(extra)),
                    ConditionExpression="size(runs) > :keep",
                    ExpressionAttributeValues=attrs({":keep": KEEP_RUNS}),
                )

    def cancel(self, job_id: str, now_ms: int) -> Job | None:
        """Marks the job cancelled (the first time counts); None if there is no such job."""
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key=_key(job_id, "JOB"),
                UpdateExpression="SET cancelled_at = if_not_exists(cancelled_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=attrs({":now": now_ms}),
                ReturnValues="ALL_NEW",
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return Job.model_validate(plain(answer["Attributes"]))

    # ------------------------------------------------------------------ planning

    def plan_page(self, job_id: str, cursor: str, next_cursor: str, groups: dict[str, int], cancelled: bool) -> bool:
        """Records one page of target groups (group → Random) and moves the job's cursor from
        ``cursor`` to ``next_cursor`` ("" when this was the last page), all or nothing. False when
        the cursor had already moved: another invocation planned this page. Groups named twice
        in the listing are recorded once. After a cancel the page's groups are recorded cancelled."""
        state = "cancelled" if cancelled else "pending"
        counted = "ADD #total :n, cancelled :n" if cancelled else "ADD #total :n"
        pending = dict(groups)
        while True:
            job_update = {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(job_id, "JOB"),
                    "UpdateExpression": f"SET #cursor = :next, planned = :last {counted}",
                    "ConditionExpression": "#cursor = :cursor AND planned = :false",
                    "ExpressionAttributeNames": {"#cursor": "cursor", "#total": "total"},
                    "ExpressionAttributeValues": attrs(
                        {
                            ":next": next_cursor,
                            ":cursor": cursor,
                            ":last": not next_cursor,
                            ":false": False,
                            ":n": len(pending),
                        }
                    ),
                }
            }
            puts = [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_key(job_id, _group_sk(group)),
                            **attrs({"group_id": group, "state": state, "random": random, "attempts": 0}),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for group, random in pending.items()
            ]
            try:
                self._transact([job_update, *puts])
                return True
            except ClientError as exc:
                reasons = _cancelled_reasons(exc)
                if not reasons:
                    raise
                if reasons[0] == "ConditionalCheckFailed":
                    return False  # the cursor had moved: another invocation planned this page
                failed = zip(pending, reasons[1:], strict=False)
                existing = {group for group, code in failed if code == "ConditionalCheckFailed"}
                if not existing:
                    raise
                pending = {g: r for g, r in pending.items() if g not in existing}

    # ------------------------------------------------------------------ one group

    def group(self, job_id: str, group_id: str) -> JobGroup | None:
        found = self._db.get_item(TableName=self._table, Key=_key(job_id, _group_sk(group_id)), ConsistentRead=True)
        return JobGroup.model_validate(plain(found["Item"])) if "Item" in found else None

    def groups(self, job_id: str, limit: int, token: str | None) -> tuple[builtins.list[JobGroup], str | None]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :g)",
            "ExpressionAttributeValues": attrs({":pk": _pk(job_id), ":g": GROUP_SK}),
            "Limit": min(limit, MAX_PAGE),
        }
        start = decode_token(
            token, lambda key: set(key) == {"pk", "sk"} and key["pk"] == _pk(job_id) and key["sk"].startswith(GROUP_SK)
        )
        if start is not None:
            query["ExclusiveStartKey"] = start
        page = self._db.query(**query)
        return [JobGroup.model_validate(plain(i)) for i in page.get("Items", [])], encode_token(
            page.get("LastEvaluatedKey")
        )

    def claim(self, job_id: str, group_id: str, now_ms: int, lease_until_ms: int) -> Claim | JobGroup | None:
        """Takes a pending group, or a sending one whose holder's lease ran out (it crashed or gave
        up): the Claim. Otherwise the group as it is (sent, failed, cancelled, or held by a live
        worker), or None if there is no such group."""
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key=_key(job_id, _group_sk(group_id)),
                UpdateExpression=(
                    "SET #state = :sending, lease_until = :lease, first_try_ms = if_not_exists(first_try_ms, :now) "
                    "ADD attempts :one"
                ),
                ConditionExpression="#state = :pending OR (#state = :sending AND lease_until < :now)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=attrs(
                    {
                        ":sending": "sending",
                        ":pending": "pending",
                        ":lease": lease_until_ms,
                        ":now": now_ms,
                        ":one": 1,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item")
            return JobGroup.model_validate(plain(cast(dict[str, Any], old))) if old else None
        return Claim.model_validate(plain(answer["Attributes"]))

    def new_random(self, job_id: str, group_id: str, old: int, new: int) -> bool:
        """A dropped message is resent as a new one: False if the group moved on meanwhile."""
        return self._update_group(
            job_id,
            group_id,
            "SET #random = :new",
            "#state = :sending AND #random = :old",
            attrs({":new": new, ":old": old, ":sending": "sending"}),
            {"#random": "random"},
        )

    def release(self, job_id: str, group_id: str, code: int | None, info: str) -> bool:
        """Gives a sending group back for a later attempt (same Random), noting why."""
        return self._update_group(
            job_id,
            group_id,
            "SET lease_until = :zero, code = :code, info = :info",
            "#state = :sending",
            {**attrs({":zero": 0, ":info": info, ":sending": "sending"}), ":code": attr(code)},
        )

    def _update_group(
        self,
        job_id: str,
        group_id: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_key(job_id, _group_sk(group_id)),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state", **(names or {})},
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def finish(
        self,
        job_id: str,
        group_id: str,
        state: str,
        now_ms: int,
        msg_seq: int | None = None,
        code: int | None = None,
        info: str = "",
        result: str | None = None,
    ) -> bool:
        """Moves a group to its end state (sent, failed or cancelled) and counts it in the job, in
        one transaction. False if the group was not in the state this move starts from."""
        start = "pending" if state == "cancelled" else "sending"
        group_set = "SET #state = :state, updated_ms = :now, info = :info, lease_until = :zero"
        group_values: dict[str, Any] = {":state": state, ":start": start, ":now": now_ms, ":info": info, ":zero": 0}
        if msg_seq is not None:
            group_set += ", msg_seq = :seq"
            group_values[":seq"] = msg_seq
        result_name = {} if result is None else {"#result": "result"}
        if result is not None:
            group_set += ", #result = :result"
            group_values[":result"] = result
        group_set += ", code = :code"
        job_update = "ADD #counted :one"
        job_values: dict[str, Any] = {":one": 1}
        job_names: dict[str, str] = {"#counted": state}
        if state == "failed":
            job_update += " SET failed_codes.#code = if_not_exists(failed_codes.#code, :zero) + :one"
            job_values[":zero"] = 0
            job_names["#code"] = str(code)
        job_action: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(job_id, "JOB"),
            "UpdateExpression": job_update,
            "ExpressionAttributeNames": job_names,
            "ExpressionAttributeValues": attrs(job_values),
        }
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _key(job_id, _group_sk(group_id)),
                            "UpdateExpression": group_set,
                            "ConditionExpression": "#state = :start",
                            "ExpressionAttributeNames": {"#state": "state", **result_name},
                            # The code is written even when None (NULL): a retried group's old one goes.
                            "ExpressionAttributeValues": {**attrs(group_values), ":code": attr(code)},
                        }
                    },
                    {"Update": job_action},
                ]
            )
        except ClientError as exc:
            if "ConditionalCheckFailed" in _cancelled_reasons(exc):
                return False
            raise
        return True
