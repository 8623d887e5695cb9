"""timkit.chat against the emulator through the real REST client, with the token store on moto:
group and one-to-one threads read from Tencent's history APIs, per-participant failures, the
operations Tencent does not offer, and creates and sends repeated after a failed first attempt,
past Tencent's own dedupe windows (the emulator's clock moves, nothing sleeps)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from local.tim_emulator import FakeClock, TimEmulator
from local.tim_emulator.control import EmulatorControl
from tests.emulator.conftest import ADMIN, APP, KEY
from tests.moto_env import offline_aws, template_table
from timkit.chat import (
    ChatClient,
    ChatMessageNotFound,
    IdempotencyConflict,
    InvalidChatRequest,
    NotAParticipant,
    NotSupportedByTencent,
    ThreadNotFound,
)
from timkit.models.conversations import MAX_TIME
from timkit.stores.chat_tokens import ChatTokenStore
from timkit.tim.errors import TimError
from timkit.tim.rest import TimRestClient

SEND_GROUP = "group_open_http_svc/send_group_msg"
SEND_C2C = "openim/sendmsg"
# Past Tencent's 5-minute Random window (docs/protocol.md §6.4) and the token's lease.
LATER = 600


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[ChatTokenStore]:
    with offline_aws(monkeypatch):
        template_table("IdempotencyTable", "idempotency")
        yield ChatTokenStore("idempotency", clock=clock.now)


@pytest.fixture
def chat(emulator: TimEmulator, clock: FakeClock, tokens: ChatTokenStore) -> ChatClient:
    rest = TimRestClient(APP, KEY, admin=ADMIN, base_url=emulator.url, clock=clock.now, sleep=lambda s: None)
    return ChatClient(rest, tokens=tokens, clock=clock.now)


def lose_every_answer(tim: EmulatorControl, api: str) -> None:
    """Tencent carries the call out, and the caller never hears so."""
    tim.configure(faults=[{"api": api, "error_share": 1.0, "codes": [502], "fault_after_commit": 1.0}])


def test_a_group_thread_lives_through_tencents_apis(chat: ChatClient, tim: EmulatorControl) -> None:
    created = chat.create_chat_thread("Release", ["alice", "bob", "nobody-here"])
    assert [(e.target, e.code) for e in created.errors] == [("nobody-here", "0")]
    thread = chat.get_chat_thread_client(created.chat_thread.id)
    assert thread.get_properties().topic == "Release"
    first = thread.send_message("hello", "alice", "Alice", metadata={"k": "v"})
    second = thread.send_message("<b>x</b>", "bob", message_type="html")
    thread.update_message(first, "hello again")
    # The envelope Tencent's group history does not show is left as it was, not overwritten.
    (stored,) = [m for m in tim.messages(GroupId=thread.group_id) if f"group:{m['GroupId']}:{m['MsgSeq']}" == first]
    assert json.loads(stored["CloudCustomData"])["chat"] == {"senderDisplayName": "Alice", "metadata": {"k": "v"}}
    with pytest.raises(InvalidChatRequest, match="metadata"):
        thread.update_message(first, metadata={"k": "w"})
    thread.delete_message(second)
    pages = list(thread.list_messages(results_per_page=1).by_page())
    assert {page.source for page in pages} == {"tencent"}
    listed = [m for page in pages for m in page.items]
    assert [m.id for m in listed] == [second, first]  # newest first, one per page
    assert (listed[0].deleted, listed[0].content.message) == (True, None)
    # Tencent's group history has no CloudCustomData (docs/protocol.md §11.2): what travels there is unknown here.
    assert (listed[1].content.message, listed[1].metadata) == ("hello again", None)
    assert thread.get_message(first).content.message == "hello again"
    thread.update_topic("Release 2")
    assert thread.get_properties().topic == "Release 2"
    assert [p.identifier for p in thread.list_participants()] == ["alice", "bob"]
    thread.send_read_receipt(first, "bob")
    assert [(r.sender, r.chat_message_id) for r in thread.list_read_receipts()] == [("bob", first)]
    thread.remove_participant("bob")
    assert [p.identifier for p in thread.list_participants()] == ["alice"]
    assert created.chat_thread.id in [t.id for t in chat.list_chat_threads()]
    chat.delete_chat_thread(created.chat_thread.id)
    with pytest.raises(ThreadNotFound):
        thread.get_properties()


def test_a_one_to_one_thread_maps_onto_the_c2c_apis(chat: ChatClient, tim: EmulatorControl) -> None:
    thread = chat.get_chat_thread_client("c2c:bob:alice")
    assert thread.thread_id == "c2c:alice:bob"
    sent = thread.send_message("hi", "alice", "Alice", metadata={"k": "v"})
    message = thread.get_message(sent)
    assert (message.sender, message.content.message, message.metadata, message.sender_display_name) == (
        "alice",
        "hi",
        {"k": "v"},
        "Alice",
    )
    thread.update_message(sent, metadata={"k": "w"})
    edited = thread.get_message(sent)
    assert (edited.metadata, edited.content.message, edited.edited_on is not None) == ({"k": "w"}, "hi", True)
    thread.send_read_receipt(sent, "bob")
    assert tim.calls(api="openim/admin_set_msg_read")[-1]["request"]["Report_Account"] == "bob"
    thread.delete_message(sent)
    (listed,) = list(thread.list_messages())
    assert (listed.id, listed.deleted) == (sent, True)
    thread.send_typing_notification("bob")
    typing = tim.calls(api=SEND_C2C)[-1]["request"]
    assert (typing["MsgLifeTime"], typing["To_Account"], typing["SendMsgControl"]) == (
        0,
        "alice",
        ["NoUnread", "NoLastMsg"],
    )
    with pytest.raises(NotAParticipant, match="not one of"):
        thread.send_message("hi", "carol")


def test_one_to_one_messages_from_a_time_to_come_are_none(chat: ChatClient, tim: EmulatorControl) -> None:
    # Tencent's roaming history takes no range that starts after it ends: not asked, an empty page.
    thread = chat.get_chat_thread_client("c2c:alice:bob")
    thread.send_message("hi", "alice")
    before = len(tim.calls(api="openim/admin_getroammsg"))
    page = next(thread.list_messages(start_time=MAX_TIME - 1).by_page())
    assert (page.items, page.next_token, page.source) == ([], None, "tencent")
    assert len(tim.calls(api="openim/admin_getroammsg")) == before


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("update_topic", lambda t: t.update_topic("x")),
        ("add_participants", lambda t: t.add_participants(["carol"])),
        ("remove_participant", lambda t: t.remove_participant("bob")),
        ("delete_chat_thread", lambda t: t.delete()),
    ],
)
def test_what_tencent_has_no_one_to_one_equivalent_for_is_refused_saying_what_to_do(chat, operation, call) -> None:
    with pytest.raises(NotSupportedByTencent) as refused:
        call(chat.get_chat_thread_client("c2c:alice:bob"))
    assert refused.value.operation == operation and refused.value.instead


def test_typing_in_a_group_and_per_participant_history_are_refused(chat: ChatClient) -> None:
    thread = chat.get_chat_thread_client("group:@TGS#demo")
    with pytest.raises(NotSupportedByTencent, match="one-to-one"):
        thread.send_typing_notification("alice")
    from datetime import UTC, datetime

    from timkit.models.chat import ChatParticipant

    with pytest.raises(NotSupportedByTencent, match="history visibility"):
        thread.add_participants([ChatParticipant(identifier="dave", share_history_time=datetime.now(UTC))])


def test_a_message_of_another_thread_is_not_found(chat: ChatClient) -> None:
    thread = chat.get_chat_thread_client("group:@TGS#demo")
    with pytest.raises(ChatMessageNotFound):
        thread.get_message("group:@TGS#other:1")
    with pytest.raises(ChatMessageNotFound):
        thread.get_message("group:@TGS#demo:999")


def test_a_group_send_whose_answers_were_lost_is_not_sent_again_after_tencents_window(
    chat: ChatClient, tim: EmulatorControl, clock: FakeClock
) -> None:
    thread = chat.get_chat_thread_client("group:@TGS#demo")
    lose_every_answer(tim, SEND_GROUP)
    with pytest.raises(TimError):
        thread.send_message("once", "alice", idempotency_token="t-1")
    tim.configure(faults=[])
    clock.advance(LATER)
    message_id = thread.send_message("once", "alice", idempotency_token="t-1")
    stored = [m for m in tim.messages(GroupId="@TGS#demo") if m["MsgBody"][0]["MsgContent"].get("Text") == "once"]
    assert [f"group:@TGS#demo:{m['MsgSeq']}" for m in stored] == [message_id]
    calls = len(tim.calls(api=SEND_GROUP))
    assert thread.send_message("once", "alice", idempotency_token="t-1") == message_id
    assert len(tim.calls(api=SEND_GROUP)) == calls  # done: answered from the record


def test_a_c2c_send_whose_answers_were_lost_is_not_sent_again(
    chat: ChatClient, tim: EmulatorControl, clock: FakeClock
) -> None:
    thread = chat.get_chat_thread_client("c2c:alice:bob")
    lose_every_answer(tim, SEND_C2C)
    with pytest.raises(TimError):
        thread.send_message("once", "alice", idempotency_token="t-2")
    tim.configure(faults=[])
    clock.advance(LATER)
    message_id = thread.send_message("once", "alice", idempotency_token="t-2")
    stored = [m for m in tim.messages(From_Account="alice", To_Account="bob")]
    assert [f"c2c:{m['MsgKey']}" for m in stored] == [message_id]


def test_a_token_used_for_another_message_is_refused(chat: ChatClient) -> None:
    thread = chat.get_chat_thread_client("group:@TGS#demo")
    thread.send_message("one", "alice", idempotency_token="t-3")
    with pytest.raises(IdempotencyConflict):
        thread.send_message("two", "alice", idempotency_token="t-3")


def test_a_create_that_failed_halfway_is_completed_by_its_repeat(chat: ChatClient, tim: EmulatorControl) -> None:
    tim.configure(faults=[{"api": "group_open_http_svc/add_group_member", "error_share": 1.0, "codes": [502]}])
    with pytest.raises(TimError):
        chat.create_chat_thread("Half", ["alice", "bob", "nobody-here"], idempotency_token="c-1")
    tim.configure(faults=[])
    created = chat.create_chat_thread("Half", ["alice", "bob", "nobody-here"], idempotency_token="c-1")
    assert [e.target for e in created.errors] == ["nobody-here"]
    again = chat.create_chat_thread("Half", ["alice", "bob", "nobody-here"], idempotency_token="c-1")
    assert again == created
    groups = [t.id for t in chat.list_chat_threads() if t.topic == "Half"]
    assert groups == [created.chat_thread.id]
    chat.delete_chat_thread(created.chat_thread.id)
    with pytest.raises(ThreadNotFound, match="deleted"):
        chat.create_chat_thread("Half", ["alice", "bob", "nobody-here"], idempotency_token="c-1")
