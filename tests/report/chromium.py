"""Drive headless Chromium over the DevTools protocol: load a page, collect problems, screenshot.

A small harness for the report tests: :func:`inspect_page` starts Debian's ``chromium``
(``--headless --no-sandbox --disable-gpu``) with a fresh profile, opens the page at a
given viewport size and returns what a reader would see (a full-page screenshot) and
what went wrong (console errors, exceptions, log errors, any request that is not the
file itself or a ``data:`` URI, failed loads), plus the state of every ``<img>``. Every
wait is bounded, and the browser is always stopped.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

#: Binaries tried, in order.
BINARIES = ("chromium", "chromium-browser", "google-chrome")

START_TIMEOUT = 30.0
STEP_TIMEOUT = 30.0


def find_chromium() -> str | None:
    """Return the path of a Chromium binary, or None."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageReport:
    """What loading a page in Chromium gave."""

    screenshot: bytes
    images: list[dict[str, Any]]
    scroll_width: int
    client_width: int
    inner_width: int
    scripts: int
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class _Session:
    """One DevTools websocket: commands with ids, events kept in arrival order."""

    def __init__(self, url: str, port: int) -> None:
        # Our own socket, so that no proxy named in the environment is tried.
        sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT)
        self.ws = websocket.create_connection(
            url, timeout=STEP_TIMEOUT, suppress_origin=True, socket=sock
        )
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"{method}: no answer in {STEP_TIMEOUT} s")

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT
        for event in self.events:
            if event["method"] == method:
                return event
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message
        raise TimeoutError(f"no {method} in {STEP_TIMEOUT} s")

    def close(self) -> None:
        self.ws.close()


def inspect_page(binary: str, page: Path, profile: Path, *, width: int, height: int) -> PageReport:
    """Open ``page`` in headless Chromium at ``width`` x ``height`` CSS pixels.

    Parameters
    ----------
    binary : str
        The Chromium executable.
    page : Path
        An HTML file.
    profile : Path
        An empty folder for the browser profile.
    width, height : int
        Viewport; under 600 pixels wide the page is shown as on a phone (mobile
        emulation: the viewport meta tag is honoured).
    """
    args = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(profile, process)
        session = _Session(_page_socket(port), port)
        try:
            return _load(session, page, width=width, height=height)
        finally:
            session.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode} at start")
        if marker.is_file():
            lines = marker.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        time.sleep(0.05)
    raise TimeoutError(f"chromium wrote no DevToolsActivePort in {START_TIMEOUT} s")


def _page_socket(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
            targets = json.loads(answer.read())
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.05)
    raise TimeoutError("chromium shows no page target")


_PROBE = """JSON.stringify({
  images: Array.from(document.images).map(i => {
    const r = i.getBoundingClientRect();
    return {complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
            alt: i.alt, x: r.left + scrollX, y: r.top + scrollY, width: r.width,
            height: r.height};
  }),
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
  innerWidth: window.innerWidth,
  scripts: document.scripts.length,
})"""


def _load(session: _Session, page: Path, *, width: int, height: int) -> PageReport:
    for domain in ("Page", "Runtime", "Log", "Network"):
        session.send(f"{domain}.enable")
    session.send(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=width < 600,
    )
    url = page.resolve().as_uri()
    session.send("Page.navigate", url=url)
    session.wait_for("Page.loadEventFired")
    probe = session.send("Runtime.evaluate", expression=_PROBE, returnByValue=True)
    state = json.loads(probe["result"]["value"])
    metrics = session.send("Page.getLayoutMetrics")
    content = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = session.send(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1},
    )
    report = PageReport(
        screenshot=base64.b64decode(shot["data"]),
        images=state["images"],
        scroll_width=int(state["scrollWidth"]),
        client_width=int(state["clientWidth"]),
        inner_width=int(state["innerWidth"]),
        scripts=int(state["scripts"]),
    )
    for event in session.events:
        _note(event, url, report)
    return report


def _note(event: dict[str, Any], url: str, report: PageReport) -> None:
    method, params = event["method"], event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
        report.problems.append(f"console.{params['type']}: {' '.join(texts)}")
    elif method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        report.problems.append(f"exception: {details.get('text', '')}")
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        report.problems.append(f"log: {entry.get('text', '')} {entry.get('url', '')}".strip())
    elif method == "Network.requestWillBeSent":
        request_url = params.get("request", {}).get("url", "")
        report.requests.append(request_url)
        if request_url != url and not request_url.startswith("data:"):
            report.problems.append(f"request: {request_url}")
    elif method == "Network.loadingFailed":
        report.problems.append(f"loading failed: {params.get('errorText', '')}")
