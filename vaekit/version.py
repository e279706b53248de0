"""Package and saved-file format versions."""

__version__ = "0.1.0"
# Bumped when a saved model's layout changes incompatibly; loading refuses newer formats.
FORMAT_VERSION = 1
