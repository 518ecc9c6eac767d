"""Warnings rankwise issues (errors are the standard ValueError / TypeError, and one class
that is both)."""


class AccuracyWarning(UserWarning):
    """The requested accuracy could not be reached within the allowed rank or iterations."""


class InvalidParameterError(ValueError, TypeError):
    """A bad argument of a drop-in whose peer raises the other class: both a ValueError and
    a TypeError, as scikit-learn's own InvalidParameterError, so that code written for
    scikit-learn (``except ValueError:`` around a float ``n_components``) or SciPy
    (``except TypeError:`` around cg's float ``maxiter``) catches it too."""


class MissingAdjointError(NotImplementedError, TypeError):
    """A LinearOperator without rmatvec / rmatmat where products with its adjoint are
    needed: SciPy's class for it (NotImplementedError), and the TypeError rankwise raised
    before."""
