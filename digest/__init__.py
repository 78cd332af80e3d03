"""Paper Digest: daily research-paper listings -> personal email digests and feeds."""

__version__ = "0.1.0"
