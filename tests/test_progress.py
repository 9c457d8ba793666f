"""The progress line: whole log lines above it, one rate for the line and the log, plain lines off a terminal."""

import io
import logging
import re
import sys

import pytest

from neurokit.pipelines import _progress
from neurokit.pipelines._progress import Progress, format_duration, phase

FORMAT = "%(levelname)s %(name)s: %(message)s"


class Terminal(io.StringIO):
    """A stream that says it is a terminal, and what a terminal would show of what was written to it."""

    def isatty(self):
        return True

    def screen(self) -> list[str]:
        """The lines on screen: ``\\r`` goes back to the line's start, ESC[2K erases the line,
        other characters overwrite what is under the cursor (as a terminal does)."""
        lines, line, col = [], [], 0
        text = self.getvalue()
        i = 0
        while i < len(text):
            if text.startswith("\x1b[2K", i):
                line, i = [], i + 4
                continue
            ch = text[i]
            if ch == "\r":
                col = 0
            elif ch == "\n":
                lines.append("".join(line))
                line, col = [], 0
            else:
                if col < len(line):
                    line[col] = ch
                else:
                    line.append(ch)
                col += 1
            i += 1
        lines.append("".join(line))
        return lines


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def console():
    """A root-logger handler on a fake terminal (as the command line's logging.basicConfig makes on stderr)."""
    stream = Terminal()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream, handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture(autouse=True)
def _no_ticker(monkeypatch):
    # redraws come from updates and log records only: what the screen shows is then deterministic
    monkeypatch.setattr(_progress, "_TICK", 3600.0)


def test_log_records_print_as_whole_lines_above_the_line(console):
    stream, handler = console
    logger = logging.getLogger("neurokit.test")
    clock = Clock()
    bar = Progress(3, stream=stream, clock=clock)
    assert bar.enabled and handler.stream is not stream  # the handler writes through the line
    clock.now += 5
    bar.update()
    logger.info("sub-01 excluded: too much motion")
    clock.now += 600  # elapsed 10:05 -> a longer line than the next one
    bar.update(failed=True)
    logger.error("sub-02 failed in extract: ExtractError: truncated")
    clock.now += 1
    bar.update()
    screen = stream.screen()
    assert "INFO neurokit.test: sub-01 excluded: too much motion" in screen
    assert "ERROR neurokit.test: sub-02 failed in extract: ExtractError: truncated" in screen
    for line in screen:  # no record shares its line with the bar
        assert not ("neurokit.test" in line and "runs " in line), line
    assert screen[-1] == bar.line()  # the line as drawn last, nothing left of longer earlier ones
    bar.close()
    screen = stream.screen()
    assert handler.stream is stream
    # the bar is gone; the final counts are a log record of their own
    assert screen[-2:] == [f"INFO neurokit.progress: {bar.text()}", ""]
    assert not any(line.startswith("[") for line in screen)


def test_shorter_text_leaves_nothing_of_the_longer_one(console):
    stream, _ = console
    line = _progress._LiveLine(stream, lambda: text)
    text = "runs 1/2 ETA 18 s"
    line.draw()
    text = "runs 2/2 ETA 8 s"
    line.draw()
    assert stream.screen() == ["runs 2/2 ETA 8 s"]
    line.stop()
    assert stream.screen() == [""]


def test_partial_writes_are_not_erased(console):
    stream, handler = console
    bar = Progress(2, stream=stream, clock=Clock())
    proxy = handler.stream
    proxy.write("half ")
    bar.update()  # the line waits: the text above it is not finished
    proxy.write("a line\n")
    bar.close()
    assert "half a line" in stream.screen()


def test_the_line_and_the_log_give_the_same_rate(console):
    stream, _ = console
    clock = Clock()
    bar = Progress(10, stream=stream, clock=clock)
    for _ in range(4):
        clock.now += 15
        bar.update()
    drawn = stream.screen()[-1]
    clock.now += 300  # long after the last task (the reports render): the rate does not drop
    bar.close()
    record = stream.screen()[-2]
    rates = [re.search(r"([0-9.]+)/min", text).group(1) for text in (drawn, record)]
    assert rates == ["4.0", "4.0"]  # 4 tasks in 60 s, in both
    assert bar.rate() == pytest.approx(4.0)


def test_rate_in_periodic_log_records_off_a_terminal(caplog):
    clock = Clock()
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="neurokit.progress"):
        bar = Progress(6, stream=stream, log_every=0, clock=clock, unit="models")
        for _ in range(3):
            clock.now += 20
            bar.update()
        bar.close()
    texts = [r.getMessage() for r in caplog.records if r.name == "neurokit.progress"]
    assert len(texts) == 4 and all("3.0/min" in t for t in texts)
    assert texts[0] == "models 1/6: 1 ok, 0 failed; 3.0/min; elapsed 20 s, ETA 1:40"
    assert stream.getvalue() == ""  # nothing drawn


@pytest.mark.parametrize("terminal", [False, True])
def test_plain_lines_without_a_terminal_or_with_no_progress(terminal, caplog):
    stream = Terminal() if terminal else io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            with phase("simulating 4 participants", enabled=False if terminal else None, stream=stream):
                logging.getLogger("neurokit.test").info("inside the phase")
            bar = Progress(2, enabled=False if terminal else None, stream=stream, log_every=0)
            bar.update()
            logging.getLogger("neurokit.test").warning("between updates")
            bar.update(failed=True)
            bar.close()
    finally:
        root.removeHandler(handler)
    out = stream.getvalue()
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    assert lines[0] == "INFO neurokit.progress: simulating 4 participants ..."
    assert lines[1] == "INFO neurokit.test: inside the phase"
    assert re.fullmatch(r"INFO neurokit.progress: simulating 4 participants: done in \d+ s", lines[2])
    assert "WARNING neurokit.test: between updates" in lines
    assert lines[-1].startswith("INFO neurokit.progress: runs 2/2: 1 ok, 1 failed; ")
    assert sum("runs 2/2" in line for line in lines) == 1


def test_a_phase_shows_on_a_terminal_and_ends_as_one_record(console):
    stream, handler = console
    clock = Clock()
    with phase("rendering the group report", stream=stream, clock=clock):
        assert stream.screen()[-1] == "rendering the group report ... 0 s"
        clock.now += 75
        logging.getLogger("neurokit.test").info("wrote the group report")
    assert handler.stream is stream
    assert stream.screen() == ["INFO neurokit.test: wrote the group report",
                               "INFO neurokit.progress: rendering the group report: done in 1:15", ""]


def test_a_failing_step_takes_its_line_down(console):
    stream, handler = console
    with pytest.raises(RuntimeError):
        with phase("simulating", stream=stream):
            raise RuntimeError("boom")
    assert handler.stream is stream and sys.stderr is not None
    assert stream.screen()[-2].endswith("simulating: stopped after 0 s")


def test_excluded_tasks_are_counted_apart():
    bar = Progress(3, enabled=False, stream=io.StringIO())
    bar.update(ok=True)
    bar.update(ok=False)
    bar.update(failed=True)
    assert bar.text().startswith("runs 3/3: 1 ok, 1 excluded, 1 failed; ")
    bar.close()


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (59, "59 s"), (61, "1:01"), (3723, "1:02:03"),
                                           (float("nan"), "?")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_a_narrow_terminal_drops_the_bar_before_the_words():
    bar = Progress(40, enabled=False, stream=io.StringIO())
    bar.update()
    assert bar.line(width=200).startswith("[") and bar.line(width=200).endswith(bar.text())
    assert bar.line(width=60) == bar.text()



@pytest.mark.parametrize("bokeh", [False, True])
def test_dashboard_address_only_when_one_is_served(bokeh, monkeypatch, caplog):
    from neurokit.parallel import _cluster
    from neurokit.pipelines import participant

    class FakeClient:
        dashboard_link = "http://127.0.0.1:8787/status"

    monkeypatch.setattr(_cluster, "_dashboard_available", lambda: bokeh)
    with caplog.at_level(logging.INFO, logger="neurokit.participant"):
        participant._announce_dashboard(FakeClient())
    said = [r.getMessage() for r in caplog.records]
    assert said == (["dask dashboard: http://127.0.0.1:8787/status"] if bokeh else [])
