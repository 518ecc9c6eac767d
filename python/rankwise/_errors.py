"""Warnings rankwise issues (errors are the standard ValueError / TypeError, and one class
that is both)."""


class AccuracyWarning(UserWarning):
    """The requested accuracy could not be reached within the allowed rank or iterations."""


class InvalidParameterError(ValueError, TypeError):
    """A bad option of :func:`rankwise.randomized_svd`: both a ValueError and a TypeError,
    as scikit-learn's own InvalidParameterError, so that code written for scikit-learn
    (``except ValueError:`` around a float ``n_components``) catches it too."""
