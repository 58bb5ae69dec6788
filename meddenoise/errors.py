"""Exceptions that the command line turns into one-line messages and exit codes.

Every error that a user can cause with bad input or a bad option derives from
:class:`MeddenoiseError`; the CLI prints its message on one line and exits with
:attr:`MeddenoiseError.exit_code` instead of showing a traceback.
"""

from __future__ import annotations


class MeddenoiseError(Exception):
    """Base class of the errors meant for the user, not for a developer.

    The message is one line that names the thing at fault and the problem.
    """

    exit_code: int = 1


class InputError(MeddenoiseError, ValueError):
    """Bad input or bad usage: a file, an option or a value the toolkit cannot take."""

    exit_code = 2


class DeviceError(InputError):
    """A requested compute device does not exist or is not usable on this machine."""


class CheckpointError(InputError):
    """A checkpoint file is unreadable, corrupted, unsafe or describes an unknown model."""


class UnknownModelError(InputError, KeyError):
    """A model architecture name that the registry does not know."""

    def __str__(self) -> str:
        # KeyError quotes its argument; keep the message readable on one line.
        return str(self.args[0]) if self.args else ""


class ProcessingError(MeddenoiseError, RuntimeError):
    """Valid input that failed while being processed (exit code 1)."""

    exit_code = 1
