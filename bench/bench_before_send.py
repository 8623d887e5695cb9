"""Before-send callback: warm handling time, cold start and peak memory.

Warm: the callback function's own ``lambda_handler`` (auth, parse, a 5,000-word blocked list and
a masked list over a 2 KB text, answer, log and EMF metrics) against a bare ``json.loads`` +
``json.dumps`` of the same payload, measured in the same run. Cold: a fresh process that imports
the handler and answers one callback, fetching its secret from a local moto server over HTTP; here
from the source tree with the development venv, in ``bench_cold_start_built`` from the `sam build`
output.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]

from timkit.tim.callback_auth import callback_sign  # noqa: E402

APP_ID = 1400000001
TOKEN = "bench-callback-token"  # noqa: S105 - a fake for the benchmark
N_WARM = 20_000


def words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10))) for _ in range(n)]


def payload(rng: random.Random) -> str:
    # ~2 KB of ordinary text: upper-case words never hit the lower-case lists... but matching is
    # case-insensitive, so use digits and punctuation-free vocabulary the lists cannot contain.
    vocabulary = ["hello", "there", "meeting", "tomorrow", "at", "ten", "please", "bring", "the", "notes"]
    text = ""
    while len(text.encode()) < 2048:
        text += rng.choice(vocabulary) + " "
    return json.dumps(
        {
            "CallbackCommand": "C2C.CallbackBeforeSendMsg",
            "From_Account": "u_1001",
            "To_Account": "u_1002",
            "MsgSeq": 7311,
            "MsgRandom": 3088123456,
            "MsgTime": 1730000000,
            "MsgKey": "7311_3088123456_1730000000",
            "OnlineOnlyFlag": 0,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text[:2048]}}],
            "CloudCustomData": "",
        }
    )


def event(body: str, request_time: int) -> dict:
    query = {
        "SdkAppid": str(APP_ID),
        "CallbackCommand": "C2C.CallbackBeforeSendMsg",
        "contenttype": "json",
        "ClientIP": "203.0.113.7",
        "OptPlatform": "iOS",
        "RequestTime": str(request_time),
        "Sign": callback_sign(TOKEN, request_time),
    }
    return {
        "version": "2.0",
        "routeKey": "POST /tim/callback",
        "rawPath": "/tim/callback",
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query.items()),
        "queryStringParameters": query,
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/tim/callback"}},
        "body": body,
        "isBase64Encoded": False,
    }


CONTEXT = SimpleNamespace(
    function_name="tim-callback",
    memory_limit_in_mb=512,
    aws_request_id="bench",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-callback",
)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_moto() -> tuple[object, str, str]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    sm = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106
    )
    arn = sm.create_secret(Name="bench-callback", SecretString=json.dumps({"callback_token": TOKEN}))["ARN"]
    return server, endpoint, arn


COLD_CHILD = r"""
import time, sys, json, os, resource
t0 = time.perf_counter()
sys.path[:0] = [os.environ["BENCH_LAYER"], os.environ["BENCH_FUNCTION"]]
import app
event = json.loads(os.environ["BENCH_EVENT"])
sys.stdout = open(os.devnull, "w")
from types import SimpleNamespace
ctx = SimpleNamespace(function_name="tim-callback", memory_limit_in_mb=512, aws_request_id="bench",
                      invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tim-callback")
result = app.lambda_handler(event, ctx)
elapsed = (time.perf_counter() - t0) * 1000
sys.stdout = sys.__stdout__
assert result["statusCode"] == 200 and json.loads(result["body"])["ErrorCode"] == 0, result
print(json.dumps({"ms": elapsed, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@contextmanager
def callback_setup() -> Iterator[tuple[dict[str, str], str]]:
    """The callback function's environment (its secret in a local moto server, a 5,000-word blocked
    and 500-word masked policy in a file) and a 2 KB before-send body, for the warm and both cold
    benchmarks."""
    rng = random.Random(20261121)
    blocked = words(rng, 5000)
    masked = words(rng, 500)
    tmp = Path(tempfile.mkdtemp())
    policy_file = tmp / "policy.json"
    policy_file.write_text(json.dumps({"blocked_words": blocked, "masked_words": masked}))
    body = payload(rng)

    server, endpoint, secret_arn = start_moto()
    try:
        yield (
            {
                "TIM_SDKAPPID": str(APP_ID),
                "CALLBACK_SECRET_ID": secret_arn,
                # Required by the callback's settings; a before-send callback reaches neither.
                "EVENTS_QUEUE_URL": f"{endpoint}/123456789012/events",
                "BOT_STATE_TABLE": "bot-state",
                "POLICY_SOURCE": f"file:{policy_file}",
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "POWERTOOLS_SERVICE_NAME": "tim-callback",
                "POWERTOOLS_METRICS_NAMESPACE": "TimKit",
            },
            body,
        )
    finally:
        server.stop()


def cold_starts(
    python: list[str], layer: Path, function: Path, env: dict[str, str], body: str, runs: int = 5
) -> tuple[list[float], list[float]]:
    """Fresh processes, each importing the handler and answering one callback: (ms, peak RSS MB) of each."""
    cold_ms, rss = [], []
    for _ in range(runs):
        child_env = (
            os.environ
            | env
            | {
                "BENCH_LAYER": str(layer),
                "BENCH_FUNCTION": str(function),
                "BENCH_EVENT": json.dumps(event(body, int(time.time()))),
            }
        )
        out = subprocess.run([*python, "-c", COLD_CHILD], env=child_env, capture_output=True, text=True, check=False)
        if out.returncode:
            sys.exit(f"cold-start child failed:\n{out.stderr[-3000:]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        cold_ms.append(figures["ms"])
        rss.append(figures["rss_mb"])
    return cold_ms, rss


def main() -> None:
    with callback_setup() as (env, body):
        cold_ms, rss = cold_starts(
            [sys.executable], ROOT / "layers" / "timkit", ROOT / "functions" / "tim_callback", env, body
        )

        # Warm: the same handler in this process.
        os.environ.update(env)
        sys.path.insert(0, str(ROOT / "functions" / "tim_callback"))
        import app

        ev = event(body, int(time.time()))
        real_stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - EMF and log lines are written, as in Lambda
        try:
            first = app.lambda_handler(ev, CONTEXT)
            assert first["statusCode"] == 200 and json.loads(first["body"])["ErrorCode"] == 0, first
            handler_us, bare_us = [], []
            for _ in range(N_WARM):
                t = time.perf_counter()
                app.lambda_handler(ev, CONTEXT)
                handler_us.append((time.perf_counter() - t) * 1e6)
                t = time.perf_counter()
                json.dumps(json.loads(body))
                bare_us.append((time.perf_counter() - t) * 1e6)
        finally:
            sys.stdout.close()
            sys.stdout = real_stdout

    p99 = percentile(handler_us, 0.99)
    bare_p99 = percentile(bare_us, 0.99)
    print(
        json.dumps(
            {
                "before_send_p50_us": round(statistics.median(handler_us), 1),
                "before_send_p99_us": round(p99, 1),
                "bare_json_p99_us": round(bare_p99, 1),
                "before_send_ratio": round(p99 / bare_p99, 2),
                "cold_start_ms": round(statistics.median(cold_ms), 1),
                "peak_rss_mb": round(max(rss), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
