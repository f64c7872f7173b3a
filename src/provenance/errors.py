"""Errors a user can act on.

Every error raised for a user's mistake or an environment problem derives from
:class:`ProvenanceError`; the CLI prints its one-line message (no traceback) and
exits with :attr:`ProvenanceError.exit_code`.
"""

from __future__ import annotations

import errno

# OSError numbers that mean "the disk is full" (a quota included): one list for the builder and the CLI.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


class ProvenanceError(Exception):
    """A failure the user can fix; ``str(err)`` says what was wrong and what to do."""

    exit_code = 1


class UsageError(ProvenanceError):
    """Bad arguments or options (exit code 2, like click's own usage errors)."""

    exit_code = 2


class EncoderError(ProvenanceError):
    """An encoder spec is unknown or its weights cannot be loaded."""

    exit_code = 2


class EncoderMismatch(ProvenanceError):
    """A query would be embedded by a different model than the index was built with."""

    exit_code = 2


class IndexNotFound(ProvenanceError):
    exit_code = 2


class IndexLocked(ProvenanceError):
    """Another live process holds the index's write lock."""

    exit_code = 1


class IngestError(ProvenanceError):
    """A source cannot be read at all (as opposed to single items, which are skipped)."""

    exit_code = 1


class StrictModeError(ProvenanceError):
    """``--strict`` was given and at least one input item was skipped."""

    exit_code = 1


class DiskFull(ProvenanceError):
    """The disk filled up while writing; what was committed stays valid and the work resumes."""

    exit_code = 1
