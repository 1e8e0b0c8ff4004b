"""Errors that the CLI reports as one clear line with exit code 2 (user mistakes, not bugs)."""


class UserError(Exception):
    """A problem with the user's input: printed without a traceback, exit code 2.

    The message may span several lines when several problems are reported at once
    (one `path.to.field: problem (allowed: ...)` line each).
    """
