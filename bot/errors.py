"""The package's own errors; every message says what to do next."""


class BackCareError(Exception):
    """Base class for every error this package raises on purpose."""


class IndexMissingError(BackCareError):
    pass


class IndexStaleError(BackCareError):
    pass


class IndexCorruptError(BackCareError):
    pass


class BuildLockedError(BackCareError):
    pass


class CorpusError(BackCareError):
    pass


class InvalidHistoryError(BackCareError, ValueError):
    pass


class InvalidQuestionError(BackCareError, ValueError):
    pass


class InvalidFeedbackError(BackCareError, ValueError):
    pass


class BuildError(BackCareError):
    """A build that could not write its index (disk full, no permission); the old index stays live."""
