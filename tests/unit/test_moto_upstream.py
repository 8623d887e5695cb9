"""What moto does WITHOUT local/moto_patches.py: one test per patch (and one for the poller's read
of moto's state), each asserting the upstream behaviour the patch works around.

Each runs moto unpatched in a fresh interpreter (this process may already have patched it). When
a moto upgrade fixes the behaviour, its test fails: drop the patch it names, then this test.
tests/unit/test_moto_patches.py checks that the patched moto still gives moto's outcomes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

_PRELUDE = """
import json, threading
import boto3
from moto import mock_aws
"""


def upstream(script: str) -> Any:
    """Runs ``script`` against unpatched moto in a new interpreter; what it printed last, as JSON."""
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_PROFILE", None)
    code = _PRELUDE + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dynamodb_item_requests_are_not_atomic() -> None:
    """Patch: every DynamoDB item request under one lock (``_ITEM_LOCK``).

    Two conditional updates of one item both check their condition before either writes: both
    succeed, where DynamoDB lets exactly one through. The barrier holds each request between its
    check and its write until the other has checked too."""
    outcome = upstream("""
        from moto.dynamodb import models
        barrier = threading.Barrier(2, timeout=10)
        parser_of = models.create_condition_expression_parser

        class Checked:
            def __init__(self, op):
                self.op = op

            def expr(self, item):
                passed = self.op.expr(item)
                if passed:
                    barrier.wait()  # the other request checks now, before this one writes
                return passed

        class Parser:
            def __init__(self, *args):
                self.parser = parser_of(*args)

            def parse(self):
                return Checked(self.parser.parse())

        models.create_condition_expression_parser = Parser
        with mock_aws():
            db = boto3.client("dynamodb")
            db.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
            db.put_item(TableName="t", Item={"pk": {"S": "slot"}})
            clients = [boto3.client("dynamodb") for _ in range(2)]
            won = []

            def claim(client, name):
                try:
                    client.update_item(TableName="t", Key={"pk": {"S": "slot"}},
                                       UpdateExpression="SET claimant = :me",
                                       ConditionExpression="attribute_not_exists(claimant)",
                                       ExpressionAttributeValues={":me": {"S": name}})
                    won.append(name)
                except db.exceptions.ConditionalCheckFailedException:
                    pass

            threads = [threading.Thread(target=claim, args=(c, n)) for c, n in zip(clients, "ab")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        print(json.dumps(sorted(won)))
    """)
    assert outcome == ["a", "b"], "moto now applies item requests atomically: drop _locked/_ITEM_LOCK"


def test_a_transaction_deep_copies_every_table_it_names() -> None:
    """Patch: ``_item_backed_up`` and ``_TablesAreNotCopied`` (transactions back up their items)."""
    copies = upstream("""
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table
        tables_copied = []
        used = models.copy  # the copy module, as moto imports it

        class Recording:
            def deepcopy(self, value, memo=None):
                copied = used.deepcopy(value, memo)
                if isinstance(value, Table) and copied is not value:
                    tables_copied.append(value.name)
                return copied

            def __getattr__(self, name):
                return getattr(used, name)

        models.copy = Recording()
        with mock_aws():
            db = boto3.client("dynamodb")
            db.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
            db.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}},
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}}}},
            ])
        print(json.dumps(tables_copied))
    """)
    assert copies and set(copies) == {"t"}, "moto no longer copies whole tables: drop the transaction patches"


def test_reading_one_queue_attribute_works_out_the_message_counts() -> None:
    """Patch: ``Queue.attributes = property(_QueueAttributes)`` (each attribute worked out when read)."""
    passes = upstream("""
        from moto.sqs.models import Queue
        passes = []
        counted = Queue.approximate_number_of_messages

        def counting(self):
            passes.append(1)
            return counted.fget(self)

        Queue.approximate_number_of_messages = property(counting)
        with mock_aws():
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="q")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="m")
            passes.clear()
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        print(json.dumps(len(passes)))
    """)
    assert passes >= 1, "moto now works out only the attribute read: drop _QueueAttributes"


def test_listing_the_available_messages_reads_the_clock_twice_per_message() -> None:
    """Patch: ``Queue.messages = property(_available)`` (one reading of the clock per listing)."""
    readings = upstream("""
        from moto.sqs import models
        readings = []
        clock = models.unix_time_millis

        def counting(*args):
            readings.append(1)
            return clock(*args)

        with mock_aws():
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="q")["QueueUrl"]
            for n in range(5):
                sqs.send_message(QueueUrl=url, MessageBody=str(n))
            queue = models.sqs_backends["123456789012"]["us-east-1"].queues["q"]
            models.unix_time_millis = counting
            available = queue.messages
        print(json.dumps([len(available), len(readings)]))
    """)
    assert readings == [5, 10], "moto now reads the clock once per listing: drop _available"


def test_the_server_searches_for_the_service_on_every_request() -> None:
    """Patch: ``_cached_per_host`` (the service is found once per host name)."""
    searches = upstream("""
        from moto.moto_server import werkzeug_app
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        searches = []
        listing = werkzeug_app.backends.list_of_moto_modules

        def counting():
            searches.append(1)
            return listing()

        werkzeug_app.backends.list_of_moto_modules = counting
        dispatcher = DomainDispatcherApplication(create_backend_app)
        found = [dispatcher.get_backend_for_host("sqs.us-east-1.amazonaws.com") for _ in range(3)]
        print(json.dumps([found, len(searches)]))
    """)
    assert searches == [["sqs"] * 3, 3], "moto now remembers the service per host: drop _cached_per_host"


def test_sqs_has_no_public_read_of_an_in_flight_message() -> None:
    """local/pollers.py reads ``Queue._messages`` to learn whether a function changed a message's
    visibility: neither SQS nor moto's public ``Queue.messages`` shows a message in flight."""
    seen = upstream("""
        from moto.sqs.models import sqs_backends
        with mock_aws():
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="q")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="m")
            taken = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]
            queue = sqs_backends["123456789012"]["us-east-1"].get_queue("q")
            public = [m.receipt_handle for m in queue.messages]
            private = {m.receipt_handle: m.visible_at for m in queue._messages}
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=taken["ReceiptHandle"], VisibilityTimeout=600)
            changed = {m.receipt_handle: m.visible_at for m in queue._messages}
            handle = taken["ReceiptHandle"]
        print(json.dumps([public, handle in private, changed[handle] - private[handle]]))
    """)
    public, in_private_list, moved_ms = seen
    assert public == [], "moto now lists in-flight messages publicly: read them there in local/pollers.py"
    # What the poller relies on: the private list has the message, with its visible_at in ms.
    assert in_private_list and 539_000 <= moved_ms <= 541_000
