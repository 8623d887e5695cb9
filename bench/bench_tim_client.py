"""REST client overhead and UserSig reuse, against the local Tencent IM emulator.

``client_overhead_ratio``: the client's typed ``send_c2c`` (model → JSON, signed query, answer
validated into a model) per call, over a raw ``requests`` POST of the same JSON to the same
endpoint with a ready-made query, both on a keep-alive session, interleaved in the same run.
``usersig_hmac_per_1000_calls``: UserSigs (HMACs) the client made per 1,000 calls while its sig
stays valid.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "timkit"), str(ROOT)]

import requests  # noqa: E402

from local.tim_emulator import Identity, Seed, Settings, TimEmulator  # noqa: E402
from timkit.models import messages  # noqa: E402
from timkit.tim.rest import TimRestClient  # noqa: E402
from timkit.tim.usersig import gen_usersig  # noqa: E402

APP = 1400000001
KEY = "bench-key-0123456789abcdef0123456789abcdef"
N = 2000


def main() -> None:
    settings = Settings(rate_limit_per_second=1_000_000)
    seed = Seed(accounts=("alice", "bob"))
    with TimEmulator(Identity(APP, KEY), settings, port=0, seed=seed) as emulator:
        client = TimRestClient(APP, KEY, base_url=emulator.url)
        raw_session = requests.Session()
        raw_url = f"{emulator.url}/v4/openim/sendmsg"
        sig = gen_usersig(APP, KEY, "administrator", 86400)
        rng = random.Random(1)
        request = messages.text("hello from the benchmark").c2c_request("bob", sender="alice")
        payload = json.loads(request.model_dump_json(exclude_none=True))

        def raw_call() -> None:
            query = {
                "sdkappid": APP,
                "identifier": "administrator",
                "usersig": sig,
                "random": rng.getrandbits(32),
                "contenttype": "json",
            }
            answer = raw_session.post(raw_url, params=query, json=payload, timeout=10).json()
            assert answer["ErrorCode"] == 0, answer

        def client_call() -> None:
            client.send_c2c(request)

        for _ in range(100):  # warm both paths
            raw_call()
            client_call()
        raw_us, client_us = [], []
        for _ in range(N):
            t = time.perf_counter()
            raw_call()
            raw_us.append((time.perf_counter() - t) * 1e6)
            t = time.perf_counter()
            client_call()
            client_us.append((time.perf_counter() - t) * 1e6)
        # Counted from the client's creation: the first sig is part of the cost.
        hmacs, calls = client.sigs_made, N + 100

    raw_median, client_median = statistics.median(raw_us), statistics.median(client_us)
    print(
        json.dumps(
            {
                "client_call_median_us": round(client_median, 1),
                "raw_post_median_us": round(raw_median, 1),
                "client_overhead_ratio": round(client_median / raw_median, 3),
                "usersig_hmac_per_1000_calls": round(hmacs * 1000 / calls, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
