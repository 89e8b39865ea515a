"""Entry point: ``python -m benchmark``; user errors become one line on stderr and exit 2."""

from __future__ import annotations

import logging
import sys

from benchmark.errors import UserError


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from benchmark.cli import main as cli_main

    try:
        return cli_main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; continue with: python -m benchmark run --resume RUN_DIR", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
