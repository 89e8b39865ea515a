"""Entry point: ``python -m benchmark``; user errors become one line on stderr and exit 2.

So do file-system refusals (disk full, quota, read-only, permission denied), with the path.
"""

from __future__ import annotations

import logging
import sys

from benchmark.errors import UserError, storage_error


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from benchmark.cli import main as cli_main

    try:
        return cli_main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk or a read-only place met outside the atomic writer
        storage = storage_error(e)
        if storage is None:
            raise
        print(f"error: {storage}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; continue with: python -m benchmark run --resume RUN_DIR", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
