"""The export's errors: each carries one message fit to show a user."""


class ExportError(Exception):
    """A build cannot go on; the message says what and, where it can, what to do."""


class SourceError(ExportError):
    """The named source is unknown, unreachable, missing or damaged."""


class UnsupportedArchitectureError(ExportError):
    """The checkpoint's architecture has no ONNX export path here."""
