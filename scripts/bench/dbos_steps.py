"""DBOS Transact as the peer of `baton-workflow-bench`: a sequential workflow of no-op
steps on PostgreSQL, steps per second (each step checkpointed before the next starts, as
Baton's chain workflow).

    python dbos_steps.py POSTGRES_URL [STEPS] [ROUNDS]

Prints one line per round: `dbos chain STEPS steps: N steps/s`.
"""

import sys
import time

from dbos import DBOS, DBOSConfig


@DBOS.step()
def noop(n: int) -> int:
    return n


@DBOS.workflow()
def chain(steps: int) -> int:
    total = 0
    for i in range(steps):
        total += noop(i)
    return total


def main() -> None:
    url = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    config: DBOSConfig = {"name": "baton-bench-peer", "system_database_url": url}
    DBOS(config=config)
    DBOS.launch()
    chain(50)  # warm-up: connections, code paths
    for _ in range(rounds):
        started = time.perf_counter()
        chain(steps)
        elapsed = time.perf_counter() - started
        print(f"dbos chain {steps} steps: {steps / elapsed:.0f} steps/s", flush=True)
    DBOS.destroy()


if __name__ == "__main__":
    main()
