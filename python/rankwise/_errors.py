"""Warnings rankwise issues (errors are the standard ValueError / TypeError)."""


class AccuracyWarning(UserWarning):
    """The requested accuracy could not be reached within the allowed rank or iterations."""
