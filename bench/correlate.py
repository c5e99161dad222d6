"""Correlator benchmark (see kuzet/bench_correlate.py): `python bench/correlate.py [N] [PG_URL]`."""

import sys

from kuzet.bench_correlate import main

if __name__ == "__main__":
    main(n=int(sys.argv[1]) if len(sys.argv) > 1 else 100000,
         postgres_url=sys.argv[2] if len(sys.argv) > 2 else
         "postgresql://postgres@127.0.0.1:5432/test")
