"""The one error type that services raise and every interface turns into a clear message."""


class AntidoteError(Exception):
    """A refusal a clinic, staff member or operator can act on.

    Views turn it into a form error, the admin into a message, the API into a 4xx body,
    commands into a non-zero exit. ``code`` is a stable machine-readable name.
    """

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InsufficientCredits(AntidoteError):
    code = "insufficient_credits"


class OverBudget(AntidoteError):
    """A lead charge the clinic's own weekly or monthly cap, or its pause, does not allow."""

    code = "over_budget"
