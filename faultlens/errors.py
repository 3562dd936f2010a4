"""Errors that faultlens reports to users as one clear line (never a traceback)."""


class FaultlensError(Exception):
    """A problem with the user's input or environment; the CLI prints it and exits non-zero.

    ``exit_code`` follows the CLI convention: 2 for usage/input errors.
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(FaultlensError):
    """Bad command-line usage (unknown option value, missing file, ...)."""


class ParseError(FaultlensError):
    """A source file could not be parsed. ``path`` names the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: cannot parse: {reason}")
        self.path = path
        self.reason = reason
