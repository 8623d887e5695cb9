"""The thread API end to end, as a new user walks it: over HTTP through the local stack
(`python -m local`), its admin API, the Tencent IM emulator, the callbacks it sends and the
archive the event processor keeps."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import requests

from local.tim_emulator.control import EmulatorControl
from tests.e2e.conftest import StackState
from tests.e2e.test_callback import wait_for

TIMEOUT = 30


def admin(stack: StackState, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
    return requests.request(method, f"{stack.api_url}/admin{path}", json=body, headers=headers, timeout=TIMEOUT)


def seg(value: str) -> str:
    return quote(value, safe="")


def messages(stack: StackState, thread: str) -> dict[str, Any]:
    answer = admin(stack, "GET", f"/threads/{seg(thread)}/messages?pageSize=50")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_thread_from_creation_to_deletion(local_stack: StackState, tim: EmulatorControl) -> None:
    token = f"e2e-thread-{uuid.uuid4().hex}"
    request = {"topic": "Release 4.2", "participants": ["alice", "bob", "nobody-such-user"]}
    created = admin(local_stack, "POST", "/threads", request, **{"Idempotency-Key": token})
    assert created.status_code == 201, created.text
    result = created.json()
    thread = result["chatThread"]["id"]
    assert thread.startswith("group:thr-") and result["chatThread"]["topic"] == "Release 4.2"
    assert [(e["target"], e["code"]) for e in result["errors"]] == [("nobody-such-user", "0")]
    group = thread.removeprefix("group:")

    sent = []
    for number, (text, meta) in enumerate([("Shipping tonight", {"ticket": "42"}), ("<b>Go</b>", {"lang": "en"})]):
        body = {
            "content": text,
            "sender": "alice",
            "senderDisplayName": "Alice",
            "metadata": meta,
            "type": "text" if number == 0 else "html",
        }
        answer = admin(
            local_stack, "POST", f"/threads/{seg(thread)}/messages", body, **{"Idempotency-Key": f"{token}-m{number}"}
        )
        assert answer.status_code == 201, answer.text
        sent.append(answer.json()["id"])
    assert [m.split(":")[-1] for m in sent] == sorted(m.split(":")[-1] for m in sent)

    # The archive holds the thread once the creation's and the sends' callbacks are processed.
    def archived(count: int) -> dict[str, Any] | None:
        page = messages(local_stack, thread)
        kinds = [m["type"] for m in page["items"]]
        return page if page["source"] == "archive" and sum(k in ("text", "html") for k in kinds) >= count else None

    listed = wait_for(lambda: archived(2), timeout=30, what="the two messages in the archive")
    by_id = {m["id"]: m for m in listed["items"]}
    assert [by_id[i]["content"]["message"] for i in sent] == ["Shipping tonight", "<b>Go</b>"]
    assert [by_id[i]["metadata"] for i in sent] == [{"ticket": "42"}, {"lang": "en"}]
    assert {by_id[i]["senderDisplayName"] for i in sent} == {"Alice"}
    assert [m["type"] for m in listed["items"]][-1] == "threadCreated"

    edited = admin(
        local_stack, "PUT", f"/threads/{seg(thread)}/messages/{seg(sent[0])}", {"content": "Shipping at 22:00"}
    )
    assert edited.status_code == 204, edited.text
    deleted = admin(local_stack, "DELETE", f"/threads/{seg(thread)}/messages/{seg(sent[1])}")
    assert deleted.status_code == 204, deleted.text

    def changed() -> dict[str, Any] | None:
        items = {m["id"]: m for m in messages(local_stack, thread)["items"]}
        done = items[sent[0]].get("editedOn") and items[sent[1]].get("deletedOn")
        return items if done else None

    items = wait_for(changed, timeout=30, what="the edit and the recall in the archive")
    assert items[sent[0]]["content"]["message"] == "Shipping at 22:00"
    assert items[sent[0]]["metadata"] == {"ticket": "42"}

    read = admin(local_stack, "POST", f"/threads/{seg(thread)}/readReceipts", {"messageId": sent[0], "reader": "bob"})
    assert read.status_code == 204, read.text
    receipts = admin(local_stack, "GET", f"/threads/{seg(thread)}/readReceipts").json()["items"]
    assert [(r["sender"], r["chatMessageId"]) for r in receipts] == [("bob", sent[0])]

    added = admin(local_stack, "POST", f"/threads/{seg(thread)}/participants", {"participants": ["carol"]})
    assert added.status_code == 200 and added.json() == {"added": ["carol"], "errors": []}, added.text
    participants = admin(local_stack, "GET", f"/threads/{seg(thread)}/participants").json()["items"]
    assert {p["identifier"] for p in participants} == {"alice", "bob", "carol"}
    removed = admin(local_stack, "DELETE", f"/threads/{seg(thread)}/participants/carol")
    assert removed.status_code == 204, removed.text

    def events() -> list[str] | None:
        kinds = [m["type"] for m in messages(local_stack, thread)["items"]]
        return kinds if "participantAdded" in kinds and "participantRemoved" in kinds else None

    kinds = wait_for(events, timeout=30, what="the participant events in the list")
    assert kinds.index("participantRemoved") < kinds.index("participantAdded")  # newest first

    refused = admin(local_stack, "POST", f"/threads/{seg(thread)}/typing", {"sender": "alice"})
    assert refused.status_code == 422 and "typing" in refused.json()["message"], refused.text
    typing = admin(local_stack, "POST", f"/threads/{seg('c2c:alice:bob')}/typing", {"sender": "alice"})
    assert typing.status_code == 204, typing.text
    notice = tim.calls(api="openim/sendmsg")[-1]["request"]
    assert (notice["MsgLifeTime"], notice["To_Account"]) == (0, "bob")

    # The same create and send again with the same tokens: nothing new.
    again = admin(local_stack, "POST", "/threads", request, **{"Idempotency-Key": token})
    assert again.status_code == 201 and again.json()["chatThread"]["id"] == thread, again.text
    resent = admin(
        local_stack,
        "POST",
        f"/threads/{seg(thread)}/messages",
        {
            "content": "Shipping tonight",
            "sender": "alice",
            "senderDisplayName": "Alice",
            "metadata": {"ticket": "42"},
            "type": "text",
        },
        **{"Idempotency-Key": f"{token}-m0"},
    )
    assert resent.status_code == 201 and resent.json()["id"] == sent[0], resent.text
    assert len(tim.messages(GroupId=group)) == 2

    assert admin(local_stack, "DELETE", f"/threads/{seg(thread)}").status_code == 204
    assert admin(local_stack, "GET", f"/threads/{seg(thread)}").status_code == 404


def test_a_send_whose_answer_was_lost_is_repeated_without_a_second_message(
    local_stack: StackState, tim: EmulatorControl
) -> None:
    created = admin(local_stack, "POST", "/threads", {"topic": "Lost answers", "participants": ["alice", "bob"]})
    assert created.status_code == 201, created.text
    thread = created.json()["chatThread"]["id"]
    group = thread.removeprefix("group:")
    key = {"Idempotency-Key": f"lost-{uuid.uuid4().hex}"}
    body = {"content": "once", "sender": "alice"}
    # Tencent stores the message, then every answer is lost: the caller sees a failure.
    tim.configure(
        faults=[
            {"api": "group_open_http_svc/send_group_msg", "error_share": 1.0, "codes": [502], "fault_after_commit": 1.0}
        ]
    )
    try:
        failed = admin(local_stack, "POST", f"/threads/{seg(thread)}/messages", body, **key)
    finally:
        tim.configure(faults=[])
    assert failed.status_code == 503, failed.text
    assert len(tim.messages(GroupId=group)) == 1

    repeated = admin(local_stack, "POST", f"/threads/{seg(thread)}/messages", body, **key)
    assert repeated.status_code == 201, repeated.text
    (stored,) = tim.messages(GroupId=group)
    assert repeated.json()["id"] == f"group:{group}:{stored['MsgSeq']}"
    assert admin(local_stack, "DELETE", f"/threads/{seg(thread)}").status_code == 204
