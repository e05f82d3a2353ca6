"""The project's error hierarchy.

Every error a user can cause or fix derives from :class:`LcelkitError` and carries
a ``hint`` that says what to do. This module imports nothing from the project, so
every layer (loaders, chains, agents, the shell) can raise these errors without
breaking the one-way dependency rule.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "ConfigError",
    "ContextBudgetError",
    "CorruptFileError",
    "EmbedderMismatchError",
    "EmbeddingsError",
    "EmptyFileError",
    "EncryptedFileError",
    "FileTimeoutError",
    "FileTooLargeError",
    "LcelkitError",
    "LoaderError",
    "ModelNotFoundError",
    "StoreError",
    "UnreadableFileError",
    "UnsupportedFileError",
]


class LcelkitError(Exception):
    """Base class: a message for the user plus an optional hint on what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(LcelkitError):
    """A setting is missing or invalid."""


class LoaderError(LcelkitError):
    """A file could not be turned into documents. ``source`` names the file."""

    def __init__(self, source: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.source = source


class UnsupportedFileError(LoaderError):
    """The file's type is not one lcelkit can parse."""


class EmptyFileError(LoaderError):
    """The file has no content to index."""


class FileTooLargeError(LoaderError):
    """The file is larger than the configured limit."""


class FileTimeoutError(LoaderError):
    """Parsing the file took longer than its time budget (it was stopped and skipped)."""


class EncryptedFileError(LoaderError):
    """The file is encrypted / password protected."""


class CorruptFileError(LoaderError):
    """The file is damaged, truncated or its extension lies about its content."""


class UnreadableFileError(LoaderError):
    """The file cannot be opened (permissions, vanished, a directory, ...)."""


class StoreError(LcelkitError):
    """The vector store or the record manager failed."""


class EmbedderMismatchError(StoreError):
    """The collection was built with another embedder (name or dimension)."""


class EmbeddingsError(LcelkitError):
    """The embedding model could not be found or loaded."""


class BackendError(LcelkitError):
    """The LLM backend failed."""


class BackendUnavailableError(BackendError):
    """The LLM backend cannot be reached (server down, wrong URL)."""

    def __init__(
        self, message: str, *, provider: str, url: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.url = url


class ModelNotFoundError(BackendError):
    """The configured model does not exist on the backend / on disk."""


class ContextBudgetError(LcelkitError):
    """The minimum prompt cannot fit into the model's context window."""
