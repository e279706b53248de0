"""The error raised for data that cannot be used, always naming the file, column or key at fault."""


class DataError(ValueError):
    """Data that cannot be loaded or used: an empty folder, an unreadable image, a NaN, a text column..."""
