"""Entry point of ``python -m sknn.benchmarks``."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
