"""Correlator benchmark (see kuzet/bench_correlate.py).

    python -P bench/correlate.py [N] [PG_URL] [--kafka HOST:PORT,...] [--runs 3] [--no-sqlite]
        [--processes N] [--profile PREFIX] [--kinds fire,fight]
"""

import argparse
from pathlib import Path

from kuzet.bench_correlate import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=100000)
    parser.add_argument("postgres_url", nargs="?",
                        default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--kafka", help="bootstrap servers of a Kafka cluster (default: the "
                        "embedded broker)")
    parser.add_argument("--runs", type=int, default=1, help="runs per figure (median shown)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL store only")
    parser.add_argument("--processes", type=int, default=1,
                        help="kuzet worker --processes N (one worker per core)")
    parser.add_argument("--profile", type=Path, help="py-spy profile of each correlator run "
                        "(PREFIX.<store>.<run>.txt, collapsed stacks; summarise with "
                        "python -m kuzet.bench_correlate FILE N)")
    parser.add_argument("--kinds", default="fire",
                        help="comma-separated kinds, one set of runs each: fire (site-keyed, "
                        "re-keyed through the correlation topic; the default) and/or fight "
                        "(source-keyed, no site: correlated by the route hop directly)")
    args = parser.parse_args()
    main(n=args.n, postgres_url=args.postgres_url or None, kafka=args.kafka, runs=args.runs,
         sqlite=not args.no_sqlite, processes=args.processes, profile=args.profile,
         kinds=tuple(args.kinds.split(",")))
