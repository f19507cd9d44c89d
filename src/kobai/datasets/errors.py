"""Errors raised by :mod:`kobai.datasets`."""


class DatasetError(ValueError):
    """A data file is missing, corrupt, truncated or not what was expected.

    The message names the file and says what was wrong and what was expected.
    """


class DownloadError(DatasetError, OSError):
    """No mirror delivered a file with the expected checksum.

    The message lists what each mirror answered and which files to put in which folder
    to work offline.
    """
