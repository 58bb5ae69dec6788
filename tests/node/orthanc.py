"""A real Orthanc server for the node's integration tests, on free local ports."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGINS = (
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
    *sorted(Path("/usr/lib/orthanc").glob("libOrthancDicomWeb.so*")),
)


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dicomweb_plugin() -> Path | None:
    """The orthanc-dicomweb plugin, where it is installed."""
    return next((p for p in DICOMWEB_PLUGINS if p.is_file()), None)


class Orthanc:
    """An Orthanc process with its own storage folder, configuration and ports."""

    def __init__(
        self, folder: Path, *, node_port: int = 11112, extra: dict[str, Any] | None = None
    ) -> None:
        self.folder = folder
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        config: dict[str, Any] = {
            "Name": "meddenoise-test",
            "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"),
            "DicomAet": "ORTHANC",
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomAlwaysAllowStore": True,
            "DicomModalities": {"node": ["MEDDENOISE", "127.0.0.1", node_port]},
            "SaveJobs": False,
        }
        plugin = dicomweb_plugin()
        if plugin is not None:
            config["Plugins"] = [str(plugin)]
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
        config.update(extra or {})
        self.config = folder / "orthanc.json"
        folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps(config, indent=1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30.0) -> Orthanc:
        log = (self.folder / "orthanc.log").open("ab")
        self.process = subprocess.Popen(
            [str(ORTHANC), str(self.config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {self.log_tail()}")
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer in {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self.process = None

    def log_tail(self) -> str:
        path = self.folder / "orthanc.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def delete(self, path: str) -> None:
        request = urllib.request.Request(self.url + path, method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def clear(self) -> None:
        """Delete everything stored."""
        for patient in self.get("/patients"):
            self.delete(f"/patients/{patient}")

    def series(self) -> list[dict[str, Any]]:
        """Every series stored, with its tags, study and instance list."""
        return list(self.get("/series?expand"))

    def instance_tags(self, instance_id: str) -> dict[str, Any]:
        return dict(self.get(f"/instances/{instance_id}/simplified-tags"))

    def study_uid(self, study_id: str) -> str:
        return str(self.get(f"/studies/{study_id}")["MainDicomTags"]["StudyInstanceUID"])


def have_orthanc() -> bool:
    return ORTHANC.is_file() and shutil.which(str(ORTHANC)) is not None
