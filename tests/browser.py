"""Headless Debian Chromium driven over the DevTools protocol (a small client on websocket-client).

Used to open a page as a person would: load it, record every request it makes, read the DOM
back and take a full-page screenshot at a given viewport. Chromium runs with the offline-safe
flags of the environment notes, a fresh profile, and a host resolver that resolves nothing, so
a page that tries to reach the network is recorded doing so and cannot succeed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = os.environ.get("NEWSFLOW_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", "--mute-audio"]


class Browser:
    """One Chromium process and one page target; use as a context manager."""

    def __init__(self, timeout: float = 30.0):
        if not os.path.exists(CHROMIUM):
            raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium "
                               "(.ci/run installs it)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="newsflow-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.events: list[dict] = []
        self._next_id = 0
        self.ws = None
        try:
            self.ws = websocket.create_connection(self._browser_url(), timeout=timeout,
                                                  suppress_origin=True)
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime"):
                self.call(f"{domain}.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _browser_url(self) -> str:
        """Chromium writes its DevTools port and path to the profile once it listens."""
        marker = Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            if marker.exists():
                lines = marker.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        """Sends one command and waits for its answer, keeping events seen meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str) -> dict:
        for seen in self.events:
            if seen.get("method") == event:
                self.events.remove(seen)
                return seen
        while True:
            reply = json.loads(self.ws.recv())
            self.events.append(reply)
            if reply.get("method") == event:
                self.events.remove(reply)
                return reply

    def open(self, url: str, width: int = 1280, height: int = 800, mobile: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": mobile}, session=True)
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requests(self) -> list[str]:
        """Every URL the page asked for since it was opened (document included)."""
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: str | Path, selector: str | None = None) -> Path:
        """A PNG of the whole page (beyond the viewport), or of the element ``selector``."""
        if selector:
            clip = self.evaluate(f"""(() => {{
                const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();
                return {{x: r.left + scrollX, y: r.top + scrollY, width: r.width,
                         height: r.height}}; }})()""")
        else:
            metrics = self.call("Page.getLayoutMetrics", session=True)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        shot = self.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
            session=True)
        path = Path(path)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            if self.ws is not None:
                self.call("Browser.close")
                self.ws.close()
        except Exception:  # noqa: BLE001 - the process may already be gone
            pass
        finally:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
