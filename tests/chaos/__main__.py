"""`python -m tests.chaos [--seeds 1 2 3]` (what `make chaos` runs): one chaos run per seed on a fresh
three-node Apache Kafka cluster (KRaft, replication factor 3, min.insync.replicas 2) whose brokers are killed
too, a table of what each did, and exit status 1 if any seed lost a clip, wrote an extra record version or
paid twice for an answer that had been returned."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from tests.apache_kafka import KafkaCluster, KafkaUnavailable
from tests.chaos.monkey import Plan
from tests.chaos.run import Config, run_seed
from tests.chaos.tally import Outcome, table
from tests.conftest import TEST_CLUSTER
from tests.store.databases import temporary_database


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[int(s) for s in os.environ.get("SEEDS", "1").split()],
                   help="one run per seed (default: $SEEDS or 1)")
    p.add_argument("--clips", type=int, default=300)
    p.add_argument("--tick", type=float, default=4.0, help="seconds between chaos ticks")
    p.add_argument("--chaos", type=float, default=180.0, help="seconds of chaos per seed at most")
    p.add_argument("--deadline", type=float, default=420.0, help="seconds per seed before clips count as lost")
    p.add_argument("--replicas", type=int, default=2, help="replicas of every stage")
    p.add_argument("--postgres", action="store_true",
                   help="record store: a throwaway database per seed on the PostgreSQL at MIRA_TEST_POSTGRES_URL "
                        "(default: SQLite under the seed's home)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mira-chaos",
                   help="homes, logs and the clip cache (kept for a look after the run)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every chaos event")
    return p.parse_args(argv)


async def main(argv: list[str]) -> int:
    args = parse(argv)
    # The harness's own readers complain about every broker it kills, thousands of lines; the services'
    # logs under the work folder say what matters.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    config = Config(clips=args.clips, replicas=dict.fromkeys(Config().replicas, args.replicas),
                    plan=Plan(tick_s=args.tick), chaos_s=args.chaos, deadline_s=args.deadline,
                    verbose=args.verbose)
    cache = args.work / "clips"
    cache.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    for seed in args.seeds:
        print(f"seed {seed}: {config.clips} clips, {args.replicas} replicas per stage, "
              f"logs in {args.work / f'seed-{seed}' / 'logs'}", flush=True)
        # A cluster per seed: consumer group names are fixed (mira-STAGE), so seeds would share groups.
        shutil.rmtree(args.work / f"seed-{seed}-kafka", ignore_errors=True)
        cluster = KafkaCluster(args.work / f"seed-{seed}-kafka", nodes=3, config=TEST_CLUSTER)
        with ExitStack() as stack:
            if args.postgres:
                config = replace(config, database_url=stack.enter_context(temporary_database()))
            try:
                outcome = await run_seed(config, seed, cluster.start(), args.work, cache, cluster=cluster)
            except KafkaUnavailable as exc:
                print(f"seed {seed}: {exc}", file=sys.stderr)
                return 1
            finally:
                cluster.stop()
        for note in outcome.notes:
            print(f"  note: {note}")
        outcomes.append(outcome)
    print()
    print(table(outcomes))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
