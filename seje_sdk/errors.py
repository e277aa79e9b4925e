"""One exception hierarchy for everything seje raises on purpose.

Messages name the input (file, batch position, id) and say what to do.
"""


class SejeError(Exception):
    """Base class: any error seje raises deliberately."""


class InputError(SejeError, ValueError):
    """A user-supplied input (image, recipe, option) is unusable."""


class BundleError(SejeError):
    """An exported bundle is missing, tampered with, or from another version."""


class IndexMismatchError(SejeError):
    """An index was built with another bundle, or its files are inconsistent."""


class BackendError(SejeError, RuntimeError):
    """The requested inference backend (CUDA, TensorRT, ...) cannot run here."""


class DataError(SejeError):
    """A dataset file or record is malformed (names the file and the record)."""
