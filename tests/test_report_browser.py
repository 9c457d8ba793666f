"""The HTML reports in a real browser: headless Chromium loads each page over the DevTools
protocol (``--remote-debugging-pipe``, no extra dependency), and the test asserts no console
errors, no exceptions, no dialogs (an injected ``alert`` would open one) and no broken images,
then saves a full-page screenshot as a test artefact (copied to ``$NEUROKIT_ARTIFACTS`` if set).
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

import pytest

pytestmark = [pytest.mark.browser]

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--remote-debugging-pipe")


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """A minimal DevTools-protocol client over Chromium's pipe (fd 3: commands in, fd 4: messages out)."""

    def __init__(self, binary: str, timeout: float = 60.0):
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="nk-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def _child_fds():  # chromium expects its pipe ends exactly at fd 3 (commands) and fd 4 (replies)
            r, w = to_browser_r, from_browser_w
            if w == 3:  # move it before fd 3 is overwritten
                w = os.dup(w)
            if r != 3:
                os.dup2(r, 3)
            if w != 4:
                os.dup2(w, 4)
            os.set_inheritable(3, True)  # every other fd stays close-on-exec
            os.set_inheritable(4, True)

        # close_fds=False: with True, subprocess would close fds 3 and 4 after preexec_fn has set them up
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=_child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no message from Chromium before the deadline")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self._on_event(reply, session)

    def _on_event(self, event: dict, session: str | None) -> None:
        self.events.append(event)
        if event.get("method") == "Page.javascriptDialogOpening" and session:
            # answer it so the page does not hang; the test fails on the recorded event
            os.write(self._to_browser, json.dumps({"id": -1, "sessionId": session, "method":
                                                   "Page.handleJavaScriptDialog", "params": {"accept": True}}).encode()
                     + b"\0")

    def wait_for(self, method: str, session: str) -> dict:
        deadline = time.monotonic() + self.timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self._on_event(event, session)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self._profile, ignore_errors=True)


def inspect_page(browser: Browser, path: Path, screenshot: Path, width: int = 1280, max_height: int = 16000) -> dict:
    """Load ``path``; return console errors, exceptions, dialogs, image states; save a screenshot."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.events.clear()
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
    browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired", session)
    images = browser.send("Runtime.evaluate", {"expression": (
        "JSON.stringify(Array.from(document.images).map(i => ({src: i.src.slice(0, 40), complete: i.complete, "
        "w: i.naturalWidth, h: i.naturalHeight})))"), "returnByValue": True}, session=session)
    images = json.loads(images["result"]["value"])
    height = browser.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight",
                                               "returnByValue": True}, session=session)["result"]["value"]
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": int(min(height, max_height)), "deviceScaleFactor": 1, "mobile": False},
                 session=session)
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    errors = []
    for e in browser.events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Runtime.exceptionThrown":
            errors.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    dialogs = [e["params"].get("message") for e in browser.events if e.get("method") == "Page.javascriptDialogOpening"]
    browser.send("Target.closeTarget", {"targetId": target})
    return {"errors": errors, "dialogs": dialogs, "images": images, "height": height}


@pytest.fixture(scope="module")
def chromium():
    binary = find_chromium()
    if binary is None:
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium); the browser test needs it")
    browser = Browser(binary)
    try:
        browser.send("Browser.getVersion")
    except Exception as exc:  # noqa: BLE001
        browser.close()
        pytest.skip(f"Chromium at {binary} did not start a DevTools session: {exc}")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    from neurokit.report import write_group_report, write_participant_reports
    from neurokit.report._testing import fabricate_outputs

    root = tmp_path_factory.mktemp("browser")
    bids, out, config = fabricate_outputs(root, n_subjects=4, n_volumes=80)
    participants = write_participant_reports(out, bids_dir=bids, config=config)
    group = write_group_report(out, bids_dir=bids, config=config)
    return participants, group


def _artefact(path: Path) -> None:
    target = os.environ.get("NEUROKIT_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _check(result: dict) -> None:
    assert result["errors"] == []
    assert result["dialogs"] == [], "a script in the data ran: markup was not escaped"
    assert result["images"], "the report has no images"
    broken = [img for img in result["images"] if not img["complete"] or img["w"] == 0]
    assert broken == []
    assert all(img["src"].startswith("data:image/png;base64") for img in result["images"])


def test_participant_reports_render_in_chromium(chromium, reports, tmp_path):
    participants, _ = reports
    for path in participants:
        shot = tmp_path / f"{path.stem}.png"
        result = inspect_page(chromium, path, shot)
        if path.name == "sub-04.html":  # its only run failed: no figures, but still no errors
            assert result["errors"] == [] and result["dialogs"] == [] and result["images"] == []
        else:
            _check(result)
        assert shot.stat().st_size > 10_000
        assert result["height"] > 900
        _artefact(shot)


def test_group_report_renders_in_chromium(chromium, reports, tmp_path):
    _, group = reports
    shot = tmp_path / "group_report.png"
    result = inspect_page(chromium, group, shot)
    _check(result)
    assert len(result["images"]) >= 10
    assert shot.stat().st_size > 50_000
    _artefact(shot)


def test_harness_detects_script_errors_and_broken_images(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="data:image/png;base64,AAAA">'
                    "<script>console.error('boom'); alert(1);</script></body></html>")
    result = inspect_page(chromium, page, tmp_path / "bad.png")
    assert any("boom" in e for e in result["errors"])
    assert result["dialogs"] == ["1"]
    assert result["images"][0]["w"] == 0


def _element_box(browser: Browser, path: Path, selector: str, width: int, height: int) -> dict:
    """Bounding box (CSS px, page coordinates) of the first element matching ``selector`` at a window size."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.events.clear()
    browser.send("Page.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
    browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired", session)
    value = browser.send("Runtime.evaluate", {"expression": (
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null; "
        "const r = e.getBoundingClientRect(); const imgs = Array.from(e.querySelectorAll('img')); "
        "return JSON.stringify({top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, "
        "width: r.width, images: imgs.map(i => ({alt: i.alt, shown: i.width, natural: i.naturalWidth, "
        "ok: i.complete && i.naturalWidth > 0})), text: e.innerText.slice(0, 4000)}); })()"),
        "returnByValue": True}, session=session)["result"].get("value")
    browser.send("Target.closeTarget", {"targetId": target})
    return json.loads(value) if value else {}


def test_group_verdict_fits_one_screen(chromium, reports, tmp_path):
    _, group = reports
    box = _element_box(chromium, group, "#verdict", 1366, 768)
    assert box, "the group report has no verdict section"
    assert box["bottom"] <= 768, f"the verdict ends at {box['bottom']} px, below a 1366x768 screen"
    assert "runs usable" in box["text"] and "Motion and exclusion vs targets" in box["text"]
    assert "significant after Benjamini-Hochberg correction" in box["text"] and "(chance " in box["text"]
    assert "p = max(permutation p, beyond-confounds p)" in box["text"]
    shot = tmp_path / "verdict.png"
    inspect_page(chromium, group, shot, width=1366, max_height=768)
    _artefact(shot)


def test_participant_report_shows_overlay_coverage_and_tsnr(chromium, reports):
    participants, _ = reports
    for selector, alts in (("#run-1-atlas", {"Atlas regions over the run's mean image"}),
                           ("#run-1-regions", {"Per-region coverage and tSNR"}),
                           ("#run-1-conn", {"correlation matrix ordered by network"})):
        box = _element_box(chromium, participants[0], selector, 1280, 900)
        assert box, selector
        images = {i["alt"]: i for i in box["images"]}
        assert alts <= set(images), (selector, images)
        for alt in alts:
            assert images[alt]["ok"], alt
            # figures are drawn for their native size; a browser must not shrink their labels
            assert images[alt]["shown"] >= images[alt]["natural"] * 0.99, alt
    atlas = _element_box(chromium, participants[0], "#run-1-summary", 1280, 900)
    assert "Atlas space" in atlas["text"] and "MNI152NLin6Asym" in atlas["text"]


def _evaluate(browser: Browser, path: Path, width: int, expression: str, *, height: int = 900,
              keys: tuple[str, ...] = ()):
    """Load ``path`` at a window size, press ``keys`` (DevTools key events on the focused element), then
    return the JSON value of the JavaScript ``expression``."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.events.clear()
    browser.send("Page.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700}, session=session)
    browser.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired", session)
    for key in keys:
        code = {"Tab": 9, "Enter": 13}[key]
        for kind in ("keyDown", "keyUp"):
            browser.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                    "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code,
                                                    **({"text": "\r"} if key == "Enter" and kind == "keyDown" else {})},
                         session=session)
    value = browser.send("Runtime.evaluate", {"expression": f"JSON.stringify(({expression}))", "returnByValue": True},
                         session=session)["result"].get("value")
    browser.send("Target.closeTarget", {"targetId": target})
    return json.loads(value) if value else None


_LAYOUT = """(() => {
  const vw = window.innerWidth;
  const links = Array.from(document.querySelectorAll('nav a')).map(a => {
    const r = a.getBoundingClientRect();
    return {text: a.innerText, left: r.left, right: r.right, top: r.top, clipped: a.scrollWidth > a.clientWidth + 1};
  });
  const folds = Array.from(document.querySelectorAll('main > section')).map(s => {
    const d = s.querySelector(':scope > details');
    return {id: s.id, details: !!d, open: d ? d.open : null};
  });
  return {vw: vw, pageWidth: document.documentElement.scrollWidth, links: links, folds: folds,
          scripts: document.scripts.length,
          external: Array.from(document.querySelectorAll('[src],[href]')).map(e => e.getAttribute('src') ||
                    e.getAttribute('href')).filter(u => /^(https?:)?\\/\\//.test(u)),
          text: document.body.innerText};
})()"""


@pytest.mark.parametrize("width", [1366, 390])
def test_group_report_layout_at_desktop_and_phone_width(chromium, reports, width):
    _, group = reports
    page = _evaluate(chromium, group, width, _LAYOUT)
    # the navigation wraps: every link whole and inside the window, "Participants and runs" and "Methods" too
    names = [link["text"] for link in page["links"]]
    assert "Participants and runs" in names and "Methods" in names
    for link in page["links"]:
        assert link["left"] >= 0 and link["right"] <= page["vw"] + 0.5 and not link["clipped"], link
    assert len({round(link["top"]) for link in page["links"]}) >= (1 if width > 1000 else 3)
    # nothing wider than the window: wide tables scroll inside their own box on a phone
    assert page["pageWidth"] <= page["vw"] + 1
    # every section folds (a <details>), the verdict open; no script, nothing from the network
    assert page["folds"] and all(f["details"] for f in page["folds"])
    assert {f["id"]: f["open"] for f in page["folds"]}["verdict"] is True
    assert page["scripts"] == 0 and page["external"] == []
    # the wording matches what was drawn and tested
    text = page["text"]
    assert "dashed: the exclusion limit (0.5 mm, exclusion.max_mean_fd)" in text  # the fabricated config sets one
    assert "Models, significant first, then by FDR p" in text  # the severity model is significant at FDR 0.04
    classes = json.loads((group.parent / "models" / "stage" / "summary_indices" / "metrics.json").read_text())["classes"]
    assert "spearman 0.42 (chance 0)" in text and f"balanced accuracy 0.55 (chance {1 / len(classes):.2g})" in text
    assert "pattern, relative to the strongest feature" not in text  # an axis label, drawn in the figure
    assert "the strongest feature is ±1" in text and "feature SDs per unit of" in text


def test_group_report_sections_fold_with_the_keyboard(chromium, reports):
    _, group = reports
    # the first Tab focuses the first link of the navigation; 14 more reach past the 13 links and the verdict's
    # heading to the overview's heading; Enter closes it. No script on the page: this is the browser's own <details>
    expression = ("(() => { const a = document.activeElement; return {tag: a.tagName, "
                  "in_section: a.closest('section') ? a.closest('section').id : null, "
                  "open: a.parentElement.open}; })()")
    n_links = _evaluate(chromium, group, 1366, "document.querySelectorAll('nav a').length")
    before = _evaluate(chromium, group, 1366, expression, keys=("Tab",) * (n_links + 2))
    assert before == {"tag": "SUMMARY", "in_section": "overview", "open": True}
    after = _evaluate(chromium, group, 1366, expression, keys=("Tab",) * (n_links + 2) + ("Enter",))
    assert after == {"tag": "SUMMARY", "in_section": "overview", "open": False}


@pytest.mark.parametrize("width", [1366, 390])
def test_participant_report_shows_units_and_fits_a_phone(chromium, reports, width):
    participants, _ = reports
    page = _evaluate(chromium, participants[0], width, _LAYOUT)
    headings = _evaluate(chromium, participants[0], width,
                         "Array.from(document.querySelectorAll('#phenotype th')).map(t => t.innerText)")
    assert "age (year)" in headings and "severity" in headings  # units from participants.json; none invented
    assert not any("(" in h for h in headings if not h.startswith("age"))
    assert page["pageWidth"] <= page["vw"] + 1
    for link in page["links"]:
        assert link["left"] >= 0 and link["right"] <= page["vw"] + 0.5, link
    assert page["scripts"] == 0 and page["external"] == []


@pytest.fixture(scope="module")
def physio_reports(tmp_path_factory):
    from neurokit.report import write_group_report, write_participant_reports
    from neurokit.report._testing import add_physio, fabricate_outputs

    root = tmp_path_factory.mktemp("browser-physio")
    bids, out, config = fabricate_outputs(root, n_subjects=3, n_volumes=80, with_models=False)
    add_physio(bids, out, config)
    participants = write_participant_reports(out, bids_dir=bids, config=config)
    return participants, write_group_report(out, bids_dir=bids, config=config)


@pytest.mark.parametrize("width", [1366, 390])
def test_physiology_sections_render_and_fit_desktop_and_phone(chromium, physio_reports, tmp_path, width):
    participants, group = physio_reports
    sub01 = next(p for p in participants if p.name == "sub-01.html")
    result = inspect_page(chromium, sub01, tmp_path / f"physio-{width}.png", width=width)
    _check(result)
    page = _evaluate(chromium, sub01, width, _LAYOUT)
    assert page["pageWidth"] <= page["vw"] + 1  # the wide value tables scroll inside their own box on a phone
    box = _element_box(chromium, sub01, "#run-2-physio", width, 900)
    images = {i["alt"]: i for i in box["images"]}
    assert {"Cardiac trace with the detected beats", "Beat-to-beat heart rate over the run"} <= set(images)
    assert all(i["ok"] for i in images.values())
    if width > 1000:  # drawn for their native size: a desktop browser does not shrink their labels
        assert all(i["shown"] >= i["natural"] * 0.99 for i in images.values())
    assert "red crosses mark the 3 rejected intervals" in box["text"]
    sub02 = next(p for p in participants if p.name == "sub-02.html")
    missing = _element_box(chromium, sub02, "#run-1-physio", width, 900)
    assert missing["images"] == [] and "This run has no physiological recording" in missing["text"]
    section = _element_box(chromium, group, "#physio", width, 900)
    assert section["images"] and all(i["ok"] for i in section["images"])
    assert "Scan HRV by recovery stage" in {i["alt"] for i in section["images"]}
    assert _evaluate(chromium, group, width, _LAYOUT)["pageWidth"] <= width + 1
