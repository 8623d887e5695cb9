"""A simulated user's message through the whole local stack: the Tencent IM emulator calls
/tim/callback, the policy rewrites it, the emulator delivers the rewritten body, and the after-send
callback reaches the archive once."""

from __future__ import annotations

from tests.e2e.test_callback import wait_for

ARCHIVE_DEADLINE_S = 20


def test_a_users_message_is_moderated_delivered_and_archived_once(local_stack, tim, aws) -> None:
    answer = tim.send_c2c("alice", "bob", "well darn it")

    # The sender's view: success, the message delivered with the policy's rewrite.
    assert (answer["ErrorCode"], answer["outcome"]) == (0, "rewritten")
    delivered = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "well **** it"}}]
    assert answer["message"]["MsgBody"] == delivered
    assert tim.messages(MsgKey=answer["MsgKey"])[0]["MsgBody"] == delivered

    # The emulator's view: a signed before-send answered by the stack, then one after-send.
    tim.wait_idle()
    made = tim.callbacks(send_id=answer["send_id"])
    assert [c["command"] for c in made] == ["C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterSendMsg"]
    assert all(c["status"] == 200 and c["error"] is None for c in made)
    assert made[0]["query"]["SdkAppid"] == str(local_stack["sdkappid"]) and made[0]["query"]["Sign"]
    assert made[0]["decision"]["action"] == "rewrite"
    assert made[1]["body"]["MsgBody"] == delivered

    # The archive's view: the message, once, with the delivered body.
    table = local_stack["resources"]["ArchiveTable"]
    pk = {":pk": {"S": f"c2c:{answer['MsgKey']}"}}

    def archived() -> list[dict]:
        return aws("dynamodb").query(
            TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=pk, ConsistentRead=True
        )["Items"]

    items = wait_for(archived, timeout=ARCHIVE_DEADLINE_S, what="the after-send callback in the archive")
    assert [item["sk"]["S"] for item in items] == ["MSG"]
    assert items[0]["command"]["S"] == "C2C.CallbackAfterSendMsg"
    assert "well **** it" in items[0]["body"]["S"] and "darn" not in items[0]["body"]["S"]
    assert items[0]["conversation"]["S"] == "c2c:alice:bob"


def test_a_blocked_group_message_is_rejected_with_the_policy_code(local_stack, tim) -> None:
    answer = tim.send_group("alice", "@TGS#demo", "this has a badword")
    assert (answer["ErrorCode"], answer["ErrorInfo"], answer["outcome"]) == (
        10100,
        "Message blocked by policy",
        "rejected",
    )
    tim.wait_idle()
    # Rejected before sending: no after-send callback, nothing delivered.
    assert [c["command"] for c in tim.callbacks(send_id=answer["send_id"])] == ["Group.CallbackBeforeSendMsg"]
    assert not [m for m in tim.messages(GroupId="@TGS#demo") if "badword" in str(m["MsgBody"])]
