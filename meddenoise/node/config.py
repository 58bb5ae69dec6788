"""What a DICOM node is told: :class:`NodeConfig` and the destinations it forwards to.

Everything is checked when the configuration is built, so a bad option is a one-line
:class:`~meddenoise.errors.InputError` before any port is opened or model loaded.

Examples
--------
>>> parse_destination("pacs.example.org:104:PACS")
Destination(host='pacs.example.org', port=104, ae_title='PACS')
>>> config = NodeConfig(storage=Path("spool"), forward=(parse_destination("h:104:X"),))
>>> config.ae_title, config.port, config.allow_calling
('MEDDENOISE', 11112, ())
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from meddenoise.errors import InputError

__all__ = ["Destination", "NodeConfig", "check_ae_title", "parse_destination", "public_url"]

_AE_MAX = 16


def check_ae_title(title: str, *, what: str = "AE title") -> str:
    r"""Return ``title`` stripped of spaces if it is a valid AE title, else raise.

    An AE title has 1 to 16 characters of the default repertoire, none of them a
    backslash or a control character, and is not only spaces.

    >>> check_ae_title(" PACS ")
    'PACS'
    >>> check_ae_title("A\\B")
    Traceback (most recent call last):
    ...
    meddenoise.errors.InputError: AE title 'A\\B': 1 to 16 printable ASCII characters, no backslash
    """
    stripped = title.strip(" ")
    ok = 0 < len(stripped) <= _AE_MAX and all(32 <= ord(c) < 127 and c != "\\" for c in stripped)
    if not ok:
        raise InputError(f"{what} {title!r}: 1 to 16 printable ASCII characters, no backslash")
    return stripped


@dataclass(frozen=True)
class Destination:
    """A DICOM storage SCP that derived series are sent to by C-STORE.

    Attributes
    ----------
    host : str
        Host name or IP address.
    port : int
        TCP port.
    ae_title : str
        The destination's (called) AE title.
    """

    host: str
    port: int
    ae_title: str

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def parse_destination(text: str) -> Destination:
    """Parse ``HOST:PORT:AET`` (an IPv6 host in brackets: ``[::1]:104:PACS``).

    Raises
    ------
    InputError
        When the text is not of that form, the port is not 1 to 65535 or the AE title is
        not valid.

    >>> parse_destination("[::1]:4242:ORTHANC").host
    '::1'
    >>> parse_destination("pacs:104")
    Traceback (most recent call last):
    ...
    meddenoise.errors.InputError: destination 'pacs:104': expected HOST:PORT:AET, e.g. pacs:104:PACS
    """
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0].strip("[] ") or not parts[2].strip():
        raise InputError(f"destination {text!r}: expected HOST:PORT:AET, e.g. pacs:104:PACS")
    host, port_text, title = parts
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 0 < int(port_text) < 65536:
        raise InputError(f"destination {text!r}: port {port_text!r} is not 1 to 65535")
    return Destination(
        host.strip().removeprefix("[").removesuffix("]"),
        int(port_text),
        check_ae_title(title, what=f"destination {text!r}: AE title"),
    )


def public_url(url: str) -> str:
    """Return ``url`` without user name and password, for logs and state files.

    >>> public_url("https://user:secret@pacs.example.org/dicom-web")
    'https://pacs.example.org/dicom-web'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True)
class NodeConfig:
    """Options of a DICOM node (``meddenoise serve``).

    Attributes
    ----------
    storage : Path
        The spool folder: received instances, derived series and state files.
    forward : tuple of Destination
        Storage SCPs each derived series is sent to by C-STORE.
    stow_url : str or None
        A DICOMweb root (e.g. ``http://pacs/dicom-web``) each derived series is also sent
        to by STOW-RS.
    ae_title : str
        The node's own AE title; associations must call it.
    host : str
        Address to listen on: ``0.0.0.0`` (all interfaces) for a node, ``127.0.0.1``
        to accept local senders only.
    port : int
        TCP port to listen on; 0 picks a free one (see ``Node.port``).
    allow_calling : tuple of str
        Calling AE titles allowed to associate. Empty accepts any caller (a warning
        is logged at start-up).
    stable_seconds : float
        A series is processed once its associations are released and no instance of it
        arrived for this long.
    retry_initial, retry_max : float
        Back-off of failed forwarding: the n-th retry waits ``retry_initial * 2**(n-1)``
        seconds, at most ``retry_max``.
    model : str
        ``"default"`` or a checkpoint file.
    device, precision : str
        Where and in which arithmetic the model runs (see
        :func:`meddenoise.api.load_model`).
    tile : int
        Largest tile side.
    threads : int or None
        CPU threads for torch (None: torch's default).
    timeout : float
        Seconds to wait for a destination (connection, association, each response).
    """

    storage: Path
    forward: tuple[Destination, ...] = ()
    stow_url: str | None = None
    ae_title: str = "MEDDENOISE"
    host: str = "0.0.0.0"
    port: int = 11112
    allow_calling: tuple[str, ...] = ()
    stable_seconds: float = 10.0
    retry_initial: float = 5.0
    retry_max: float = 600.0
    model: str = "default"
    device: str = "auto"
    precision: str = "auto"
    tile: int = 512
    threads: int | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage", Path(self.storage))
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title))
        allowed = tuple(check_ae_title(t, what="calling AE title") for t in self.allow_calling)
        object.__setattr__(self, "allow_calling", allowed)
        object.__setattr__(self, "forward", tuple(self.forward))
        if not self.forward and not self.stow_url:
            raise InputError("nowhere to send results: give a --forward destination or --stow-url")
        if self.stow_url is not None and urlsplit(self.stow_url).scheme not in ("http", "https"):
            raise InputError(f"STOW-RS URL {self.stow_url!r}: expected http://... or https://...")
        if not 0 <= self.port < 65536:
            raise InputError(f"port {self.port}: expected 0 to 65535")
        for name in ("stable_seconds", "retry_initial", "retry_max", "timeout"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must be zero or more, got {getattr(self, name)}")
        if self.retry_max < self.retry_initial:
            raise InputError(
                f"retry_max ({self.retry_max} s) is less than retry_initial "
                f"({self.retry_initial} s)"
            )
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be 1 or more, got {self.threads}")

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed forwarding of a series.

        >>> config = NodeConfig(Path("s"), stow_url="http://x", retry_initial=5, retry_max=60)
        >>> [config.retry_delay(n) for n in (1, 2, 3, 4, 5)]
        [5.0, 10.0, 20.0, 40.0, 60.0]
        """
        return float(min(self.retry_max, self.retry_initial * 2 ** min(max(attempts - 1, 0), 60)))
