"""One headless chromium for a test module, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ended by NUL, commands on its fd 3, answers and events
on its fd 4).  One browser start instead of one per page; each page opens in a tab of its own
at the size asked for.

  with Browser(path) as b:
      page = b.open("file:///...#selftest", 1400, 1000)   # loaded: its load event fired
      html = page.dom()                                   # what --dump-dom printed
      png = page.screenshot()                             # PNG bytes of the viewport
      page.close()

The protocol: https://chromedevtools.github.io/devtools-protocol/ (Target, Page, Emulation,
Runtime domains)."""

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, binary, timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="bindmatrix-chromium-")
        to_browser, self._in = os.pipe()        # we write, chromium reads on its fd 3
        self._out, from_browser = os.pipe()     # chromium writes on its fd 4, we read

        def as_fds_3_and_4():
            # dup first: either end may itself be 3 or 4
            a, b = os.dup(to_browser), os.dup(from_browser)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary] + FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=as_fds_3_and_4, pass_fds=(3, 4))
        os.close(to_browser)
        os.close(from_browser)
        self._next, self._buf, self._events = 0, b"", []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()

    def quit(self):
        if self.proc.poll() is None:
            try:
                self._send("Browser.close")
            except (BrowserError, OSError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self._in, self._out):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _send(self, method, params=None, session=None):
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._in, data):]
        return self._next

    def _read(self, deadline):
        """The next message from the browser, waiting until deadline."""
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out], [], [], left)[0]:
                raise BrowserError("chromium did not answer within %g s" % self.timeout)
            chunk = os.read(self._out, 1 << 20)
            if not chunk:
                raise BrowserError("chromium exited (status %s)" % self.proc.poll())
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg.decode())

    def call(self, method, params=None, session=None):
        """The result of one command; its events meanwhile are kept for wait_event."""
        want = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise BrowserError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self._events.append(msg)

    def wait_event(self, method, session):
        deadline = time.monotonic() + self.timeout
        while True:
            for i, msg in enumerate(self._events):
                if msg.get("method") == method and msg.get("sessionId") == session:
                    del self._events[i]
                    return msg.get("params", {})
            self._events.append(self._read(deadline))

    def open(self, url, width, height):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        page = Page(self, target, session)
        self.call("Page.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": False}, session)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)
        return page


class Page:
    def __init__(self, browser, target, session):
        self.browser, self.target, self.session = browser, target, session

    def evaluate(self, expression):
        res = self.browser.call("Runtime.evaluate", {"expression": expression,
                                                     "returnByValue": True}, self.session)
        if "exceptionDetails" in res:
            raise BrowserError("%s: %s" % (expression, res["exceptionDetails"]))
        return res["result"].get("value")

    def dom(self):
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self):
        res = self.browser.call("Page.captureScreenshot", {"format": "png"}, self.session)
        return base64.b64decode(res["data"])

    def close(self):
        self.browser.call("Target.closeTarget", {"targetId": self.target})
