"""Headless Chromium for the tests, through ChromeDriver's W3C WebDriver HTTP API.

The standard library only (``subprocess``, ``urllib``, ``json``): :func:`start` runs
``/usr/bin/chromedriver`` on a free port of 127.0.0.1 and opens one session of headless
Chromium; :class:`Browser` navigates, runs scripts and performs pointer actions;
:meth:`Browser.close` ends the session and stops the driver by its own process id. Without
Chromium or ChromeDriver the tests skip, except under ``CI=true``, where they fail
(:func:`require_chromium`, as conftest's ``require``).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # any request that escapes the page goes to a proxy that is not there, and fails
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
START_SECONDS = 20.0
REQUEST_SECONDS = 120.0


class WebDriverError(RuntimeError):
    """ChromeDriver answered an error (its W3C ``error`` and ``message``)."""


def require_chromium():
    """Skip unless Chromium and ChromeDriver are installed, except under ``CI=true``, where a
    missing one fails: CI installs both (Debian's ``chromium`` and ``chromium-driver``)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if shutil.which(path) is None]
    if not missing:
        return
    reason = (f"needs {' and '.join(missing)} (Debian packages chromium, chromium-driver) for "
              "the web page's tests")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(method, url, body=None, timeout=REQUEST_SECONDS):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())["value"]
    except urllib.error.HTTPError as exc:
        try:
            value = json.loads(exc.read())["value"]
        except (ValueError, KeyError):
            raise WebDriverError(f"{method} {url}: HTTP {exc.code}") from None
        message = value.get("message", "").splitlines()[0] if value.get("message") else ""
        raise WebDriverError(f"{method} {url}: {value.get('error')}: {message}") from None


class Browser:
    """One WebDriver session of headless Chromium (use :func:`start`)."""

    def __init__(self, driver, base, profile):
        self._driver, self._base, self._profile = driver, base, profile
        self.session = None

    def _call(self, method, path, body=None):
        return _request(method, f"{self._base}/session/{self.session}{path}", body)

    def open(self, path):
        """Navigate to the local file ``path`` (a ``file://`` URL)."""
        self._call("POST", "/url", {"url": path.resolve().as_uri()})

    def run(self, script, *args):
        """The value of ``script`` (a function body: ``arguments``, ``return``) run in the page."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def run_async(self, script, *args):
        """Run ``script``; its value is what it passes to its last argument, the callback."""
        return self._call("POST", "/execute/async", {"script": script, "args": list(args)})

    def element(self, css):
        """A reference to the first element matching the CSS selector ``css``."""
        return self._call("POST", "/element", {"using": "css selector", "value": css})

    def draw(self, css, strokes, pointer="mouse"):
        """Draw ``strokes`` on the element ``css`` with the ``pointer`` ("mouse", "pen" or
        "touch"): each stroke a list of ``(x, y)`` in the element's CSS pixels from its top
        left corner (pointerMove to the first, pointerDown, pointerMove to each of the
        others, pointerUp)."""
        element = self.element(css)
        rect = self._call("GET", f"/element/{element[ELEMENT]}/rect")
        cx, cy = rect["width"] / 2, rect["height"] / 2  # W3C offsets are from the centre

        def move(x, y):
            return {"type": "pointerMove", "duration": 0, "origin": element,
                    "x": round(x - cx), "y": round(y - cy)}

        actions = []
        for stroke in strokes:
            actions += [move(*stroke[0]), {"type": "pointerDown", "button": 0}]
            actions += [move(x, y) for x, y in stroke[1:]]
            actions.append({"type": "pointerUp", "button": 0})
        self._call("POST", "/actions", {"actions": [{
            "type": "pointer", "id": pointer, "parameters": {"pointerType": pointer},
            "actions": actions}]})
        self._call("DELETE", "/actions")

    def close(self):
        """End the session and stop ChromeDriver (by its process id), within bounded waits."""
        try:
            if self.session is not None:
                try:
                    _request("DELETE", f"{self._base}/session/{self.session}", timeout=15)
                except (OSError, WebDriverError):
                    pass
        finally:
            self.session = None
            _stop(self._driver)
            shutil.rmtree(self._profile, ignore_errors=True)


def _stop(proc):
    """Stop ChromeDriver and what it started: it leads its own process group (its pid)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def start():
    """Start ChromeDriver and one headless Chromium session: a :class:`Browser` (close it)."""
    require_chromium()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="kobai-chromium-")
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    browser = Browser(driver, base, profile)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if _request("GET", f"{base}/status", timeout=2).get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if driver.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{CHROMEDRIVER} did not start on port {port} within "
                                   f"{START_SECONDS:.0f} s")
            time.sleep(0.05)
        options = {"binary": CHROMIUM, "args": [*ARGS, f"--user-data-dir={profile}"]}
        value = _request("POST", f"{base}/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})
        browser.session = value["sessionId"]
        browser._call("POST", "/timeouts", {"script": int(REQUEST_SECONDS * 1000)})
    except BaseException:
        browser.close()
        raise
    return browser
