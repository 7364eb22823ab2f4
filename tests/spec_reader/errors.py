"""The error kinds of spec/format.md, as exceptions."""


class ReaderError(Exception):
    """Base of every error the spec reader raises."""


class FormatError(ReaderError):
    """An object that is not readable as this format (spec §4.1)."""


class CorruptError(FormatError):
    """An object that fails a check: truncated, wrong checksum, undecodable (spec §4.1)."""


class UnsupportedFormatError(FormatError):
    """An object of another format version, or with an unknown compression code."""


class NotFoundError(ReaderError):
    pass


class RepositoryNotFoundError(NotFoundError):
    pass


class RefNotFoundError(NotFoundError):
    pass


class SnapshotNotFoundError(NotFoundError):
    pass


class InvalidInputError(ReaderError):
    pass


class NotAncestorError(ReaderError):
    pass
