"""Schedules N `add_one_year` tasks with `.delay()` in a loop, as the original's callers do,
then waits until every increment is committed and every result is SUCCESS in Redis.

Prints one line: TASKS n=.. enqueue_per_s=.. e2e_per_s=.. e2e_s=.. (from the first
`.delay()` to the last increment committed, read from the table every 20 ms), and writes the
machine's CPU counters at both ends of that window to CPU_BEFORE and CPU_AFTER (bench/cpu.py).
"""
import json
import os
import sys
import time

import psycopg2
import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import cpu  # noqa: E402 (bench/cpu.py)
from tasks import add_one_year, celery  # noqa: E402

N = int(os.environ.get("N", "5000"))
PEOPLE = 1000


def main():
    deadline = time.monotonic() + 60
    while not celery.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            sys.exit("no Celery worker answered within 60 s")
    database = psycopg2.connect(os.environ["PSYCOPG_DSN"])
    database.autocommit = True
    cursor = database.cursor()

    def ages():
        cursor.execute("SELECT sum(age) FROM persons")
        return cursor.fetchone()[0]

    # Warm-up: each pool process connects, the producer's connections are made.
    for result in [add_one_year.delay(i % PEOPLE + 1) for i in range(40)]:
        result.get(timeout=60)
    start_ages = ages()

    before = cpu.snap()
    started = time.perf_counter()
    results = [add_one_year.delay(i % PEOPLE + 1) for i in range(N)]
    enqueued = time.perf_counter()
    while ages() != start_ages + N:
        if time.perf_counter() - started > 600:
            sys.exit(f"only {ages() - start_ages} of {N} increments after 600 s")
        time.sleep(0.02)
    finished = time.perf_counter()
    for name, counters in (("CPU_BEFORE", before), ("CPU_AFTER", cpu.snap())):
        with open(os.environ[name], "w") as f:
            json.dump(counters, f)

    backend = redis.Redis.from_url(celery.conf.result_backend)
    keys = [f"celery-task-meta-{r.id}" for r in results]
    succeeded = 0
    for i in range(0, N, 500):
        batch = keys[i:i + 500]
        succeeded += sum(1 for v in backend.mget(batch) if v and b'"SUCCESS"' in v)
        backend.delete(*batch)
    if succeeded != N:
        sys.exit(f"only {succeeded} of {N} results are SUCCESS")
    print(f"TASKS n={N} enqueue_per_s={N / (enqueued - started):.1f} "
          f"e2e_per_s={N / (finished - started):.1f} e2e_s={finished - started:.2f}")


if __name__ == "__main__":
    main()
