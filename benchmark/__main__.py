"""Entry point: ``python -m benchmark`` (and the ``reid-benchmark`` console script).

User errors become one line on stderr and exit 2, and so do file-system refusals (disk full,
quota, read-only, permission denied), with the path; an interrupt exits 130 with the command
that continues the work. The exit codes: ``benchmark.cli.EXIT_CODES``.
"""

from __future__ import annotations

import logging
import sys

from benchmark.cli import build_parser, run_command
from benchmark.errors import UserError, storage_error

RERUN = "the same command (nothing half-written is kept)"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    hint = RERUN
    try:
        args = build_parser().parse_args(argv)
        hint = getattr(args, "resume_hint", RERUN)
        return run_command(args)
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
        print(f"interrupted; continue with: {hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
