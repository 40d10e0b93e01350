"""Entry point of ``python -m benchmarks``."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
