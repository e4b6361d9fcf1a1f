class DomainError(Exception):
    """A transition the rules do not allow. The message is written for the user who asked."""

    def __init__(self, message: str, *, code: str = "not_allowed"):
        super().__init__(message)
        self.message = message
        self.code = code
