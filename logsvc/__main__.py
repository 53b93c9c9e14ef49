"""`python -m logsvc` and the `logsvc` console script.

The command line is imported inside `main`, so that Ctrl-C at any moment of start-up (imports
take most of it) ends like Ctrl-C anywhere else: exit code 130 and no traceback.
"""

import sys


def main() -> None:
    try:
        from logsvc.cli import main as run

        run()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
