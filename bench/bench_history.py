"""History: a 50-message page from a 100,000-message conversation, against a raw DynamoDB Query of
the same page, in the same run.

The archive table is made as template.yaml declares it (its ByConversation index included) in a moto
server of its own process (as DynamoDB is a remote service), and loaded with BatchWriteItem with the
items the archiver makes for 100,000 group messages. Both sides then fetch the same page, a page in
the middle of the conversation reached through a nextToken: ``history_page_ms`` is
HistoryService.page (key condition, a token checked, one item more than the page to know if there is
a next one, entries made from the archived bodies), ``history_raw_query_ms`` a plain Query of the
index with the same start key and Limit 50. ``history_page_ratio`` is the median, over the runs, of
a history page over the raw query that follows it (target <= 1.5). moto answers an index query by
going through the whole table (over a second for 100,000 items), which dwarfs everything else:
``history_entries_ms`` is the service's own work on a page (its entries made from the items), alone.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]

import boto3  # noqa: E402
from bench_merger import moto_server  # noqa: E402
from boto3.dynamodb.types import TypeSerializer  # noqa: E402

from local.cfn_yaml import load_template  # noqa: E402
from timkit.archive import Archiver  # noqa: E402
from timkit.history import HistoryService, entry  # noqa: E402
from timkit.models.callbacks import parse_callback  # noqa: E402
from timkit.stores.archive import CONVERSATION_INDEX, ArchiveStore  # noqa: E402
from timkit.stores.dynamo import plain  # noqa: E402
from timkit.stores.paging import decode_token, encode_token  # noqa: E402

MESSAGES = 100_000
PAGE = 50
RUNS = 10
GROUP = "@TGS#bench"
BASE = 1_730_000_000


class _Collector:
    """What the archiver writes for each new message (no events: nothing to summarise)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_once(self, pk: str, sk: str, attributes: dict[str, Any]) -> None:
        self.items.append({"pk": pk, "sk": sk, **attributes})

    def history(self, pk: str) -> list[dict[str, Any]]:
        return [{"pk": pk, "sk": "MSG"}]


def archived_items() -> list[dict[str, Any]]:
    collector = _Collector()
    archiver = Archiver(collector, clock=lambda: BASE)  # type: ignore[arg-type]
    for seq in range(1, MESSAGES + 1):
        raw = json.dumps(
            {
                "CallbackCommand": "Group.CallbackAfterSendMsg",
                "GroupId": GROUP,
                "Type": "Public",
                "From_Account": f"user{seq % 40}",
                "Random": seq,
                "MsgSeq": seq,
                "MsgTime": BASE + seq // 5,
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": f"message number {seq} of the bench"}}],
                "CloudCustomData": "",
                "EventTime": (BASE + seq // 5) * 1000,
            }
        )
        archiver.archive(parse_callback("Group.CallbackAfterSendMsg", raw), raw)
    return collector.items


def load(dynamodb: Any, items: list[dict[str, Any]]) -> None:
    serialise = TypeSerializer().serialize
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]

    def write(batch: list[dict[str, Any]]) -> None:
        pending = {"archive": [{"PutRequest": {"Item": {k: serialise(v) for k, v in item.items()}}} for item in batch]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, batches))


def entries_ms(dynamodb: Any, conversation: str, start: Any) -> float:
    """What HistoryService adds to the query, alone: the page's entries made from its items (moto
    makes the query itself hundreds of times slower than DynamoDB, which hides this)."""
    items = dynamodb.query(
        TableName="archive",
        IndexName=CONVERSATION_INDEX,
        KeyConditionExpression="conversation = :c",
        ExpressionAttributeValues={":c": {"S": conversation}},
        ScanIndexForward=False,
        Limit=PAGE,
        ExclusiveStartKey=start,
    )["Items"]
    samples = []
    for _ in range(200):
        t = time.perf_counter()
        [entry(plain(item), conversation) for item in items]
        samples.append(time.perf_counter() - t)
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    with moto_server() as endpoint:
        measure(endpoint)


def measure(endpoint: str) -> None:
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")  # noqa: S106
    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=boto3.session.Config(max_pool_connections=16))
    table = load_template(ROOT / "template.yaml")["Resources"]["ArchiveTable"]["Properties"]
    dynamodb.create_table(
        TableName="archive",
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
    )
    started = time.perf_counter()
    items = archived_items()
    load(dynamodb, items)
    load_s = time.perf_counter() - started
    print(f"loaded {len(items)} items in {load_s:.1f} s", file=sys.stderr)
    history = HistoryService(ArchiveStore("archive", dynamodb))
    conversation = f"group:{GROUP}"

    # A page in the middle of the conversation, through the nextToken the page before it gives (its
    # last entry's key: what the service hands out). moto answers a query of an index by going through
    # the whole table, so paging there from the start would take minutes.
    middle = next(item for item in items if item["pk"] == f"group:{GROUP}:{MESSAGES // 2}")
    key = {name: {"S": middle[name]} for name in ("pk", "sk", "conversation", "timeline")}
    token = encode_token(key, order="newest")
    exclusive = decode_token(token, lambda key: True, order="newest")

    def history_round() -> tuple[float, list[str]]:
        t = time.perf_counter()
        page = history.page(conversation, page_size=PAGE, next_token=token)
        return time.perf_counter() - t, [entry.id for entry in page.entries]

    # The same page as a plain Query: the start key the token holds.
    def raw_round() -> tuple[float, list[str]]:
        t = time.perf_counter()
        page = dynamodb.query(
            TableName="archive",
            IndexName=CONVERSATION_INDEX,
            KeyConditionExpression="conversation = :c",
            ExpressionAttributeValues={":c": {"S": conversation}},
            ScanIndexForward=False,
            Limit=PAGE,
            ExclusiveStartKey=exclusive,
        )
        return time.perf_counter() - t, [item["pk"]["S"] for item in page["Items"]]

    history_round()
    raw_round()
    history_s, raw_s = [], []
    for _ in range(RUNS):
        elapsed, page_ids = history_round()
        history_s.append(elapsed)
        raw_elapsed, raw_ids = raw_round()
        raw_s.append(raw_elapsed)
        assert page_ids == raw_ids and len(page_ids) == PAGE
    figures = {
        "history_page_ms": round(statistics.median(history_s) * 1000, 1),
        "history_raw_query_ms": round(statistics.median(raw_s) * 1000, 1),
        "history_page_ratio": round(statistics.median(h / r for h, r in zip(history_s, raw_s, strict=True)), 2),
        "history_entries_ms": entries_ms(dynamodb, conversation, exclusive),
        "history_messages": MESSAGES,
        "history_load_s": round(load_s, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
