"""The snapshot board under load (issue 15): /healthz must not flap while the sampling loop
publishes at full rate. A reader used to meet a write in progress, retry 50 times and report
"no snapshot yet": 2-5 503s per 20,000 requests, more with larger snapshots and under load.
The board now has two slots (sampling/board.py), so a read never waits for the writer."""

import threading
import time
from collections import Counter

import httpx

from tests.test_daemon import start, stop

REQUESTS = 20_000
CLIENTS = 4


def test_20000_healthz_requests_during_full_rate_publishing_see_no_503(tmp_path):
    process, port, _ = start("--speedup", "5", state=tmp_path / "state")  # the demo's scenario, every tick published
    codes: Counter = Counter()
    reasons: Counter = Counter()
    lock = threading.Lock()

    def client(count):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(count):
                response = http.get("/healthz")
                with lock:
                    codes[response.status_code] += 1
                    if response.status_code != 200:
                        reasons[response.json().get("reason")] += 1

    try:
        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(REQUESTS // CLIENTS,)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
    finally:
        stop(process)
    assert sum(codes.values()) == REQUESTS
    assert codes == {200: REQUESTS}, (codes, reasons)
    print(f"\n{REQUESTS} /healthz in {took:.1f} s ({REQUESTS / took:.0f}/s), all 200")
