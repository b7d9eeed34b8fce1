"""Notebooks 06 and 07 in a real browser: JupyterLab + headless Chromium; the explorer answers a
slider and the repair canvas answers a drag of the mouse.

Starts JupyterLab on a free loopback port with a one-off token, serving a copy of
notebook 06 from a temporary folder (the repository's notebook is never changed),
opens it in headless Chromium (driven through the system chromedriver), runs the
explorer cell, drags a slider and checks that the rendered image changed. It
then presses the slider's arrow key a few times and measures the round trip
from the key press to the new image on screen. The screenshot and the timings go
to ``test-artifacts/``. The server and the browser are stopped afterwards.

The repair test runs notebook 07's canvas cell (after a set-up cell defining the model and
photo it uses), drags the mouse across the photo and checks that a repair appears below it.

Needs Chromium and chromedriver (``.ci/browser-deps`` installs them) and the
``selenium`` package; without them the test is skipped with the reason, or fails
when ``PGAN_REQUIRE_BROWSER=1`` (as in CI, where they are installed).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "06_latent_exploration.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
MARKER = "# The latent explorer: move a slider"      # first line of the explorer cell in notebook 06
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--no-proxy-server", "--window-size=1400,1100")


def _unavailable(reason: str) -> None:
    if os.environ.get("PGAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (PGAN_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def _find_tools() -> tuple[str, str]:
    """Paths of the Chromium binary and its chromedriver, or skip."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("selenium is not installed (pip install 'selenium>=4.10')")
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        _unavailable("Chromium or chromedriver not found; install them with .ci/browser-deps "
                     "(as root: apt-get install chromium chromium-driver)")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    """HTTP status of a GET on the loopback interface (no proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:  # not listening yet
        return 0


def _kernels(base: str, token: str) -> list[dict]:
    """The server's running kernels (GET /api/kernels)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base}/api/kernels?token={token}", timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (the kernels a Jupyter server started)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of notebook 06.

    Yields (base url, token, a function that records the kernels it has started, for clean-up).
    """
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Keep every cell in the page (no virtual scrolling), so the test can find the explorer cell.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "news" question popping up over the page.
    notices = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notices.mkdir(parents=True)
    (notices / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), PGAN_MODE="quick", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    kernels: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while _get(f"{base}/api/status?token={token}") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base, token, lambda: kernels.update(_children(server.pid))
    finally:
        kernels.update(_children(server.pid))
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)      # the server shuts its kernels down on SIGTERM
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        for pid in kernels:                          # anything the server left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


# JavaScript run in the page ------------------------------------------------------------------

_FIND_CELL = """
const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
const cell = cells.find(c => (c.querySelector('.cm-content') || {}).textContent?.includes(arguments[0]));
if (!cell) return null;
cell.scrollIntoView({block: 'start'});
return cell.querySelector('.cm-content');
"""


def _pixels_of(selector: str) -> str:
    """JavaScript that returns the image at ``selector`` as a data URL (its pixels), or null while it is
    not there or not loaded."""
    return f"""
const img = document.querySelector('{selector}');
if (!img || !img.complete || img.naturalWidth === 0) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
c.getContext('2d').drawImage(img, 0, 0);
return c.toDataURL();
"""


_IMAGE_PIXELS = _pixels_of(".pgan-explorer img")          # the explorer's image
# Record when a key goes down and when the explorer's image gets a new picture.
_WATCH = """
window.__keys = []; window.__pictures = [];
document.addEventListener('keydown', () => window.__keys.push(performance.now()), true);
const img = document.querySelector('.pgan-explorer img');
const note = () => window.__pictures.push(performance.now());
new MutationObserver(() => img.complete ? note() : img.addEventListener('load', note, {once: true}))
    .observe(img, {attributes: true, attributeFilter: ['src']});
"""


# The explorer cell's prompt: "[ ]:" before it runs, "[*]:" while it runs, "[1]:" after.
_PROMPT = """
const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
const cell = cells.find(c => (c.querySelector('.cm-content') || {}).textContent?.includes(arguments[0]));
return cell.querySelector('.jp-InputPrompt').innerText.replace(/\\s/g, '');
"""
# What the page says about the explorer cell when something goes wrong (its outputs, errors included).
_CELL_TEXT = """
const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
const cell = cells.find(c => (c.querySelector('.cm-content') || {}).textContent?.includes(arguments[0]));
return cell ? cell.innerText.slice(-3000) : '(explorer cell not found)';
"""


def _wait(driver, script: str, *args, timeout: float = 60.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.1)
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "explorer-failure.png"))
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; screenshot in "
                         f"test-artifacts/explorer-failure.png; the explorer cell shows:\n"
                         + driver.execute_script(_CELL_TEXT, MARKER))


def _chromium(tmp_path):
    """A headless Chromium driven by the system chromedriver."""
    browser, chromedriver = _find_tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path, prefix='chromium-')}")
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


def _open_and_run(driver, lab, notebook: str, markers: list[str]) -> None:
    """Open ``notebook`` in JupyterLab, wait for its kernel and run the cells whose text holds each marker, in order."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    base, token, note_kernels = lab
    driver.get(f"{base}/lab/tree/{notebook}?reset&token={token}")
    _wait(driver, _FIND_CELL, markers[-1], timeout=90, what=f"the cell '{markers[-1]}' in {notebook}")
    deadline = time.monotonic() + 90
    while not any(k.get("execution_state") == "idle" for k in _kernels(base, token)):
        assert time.monotonic() < deadline, "the notebook's kernel did not start"
        time.sleep(0.5)
    note_kernels()
    for marker in markers:
        # Run the cell (Shift+Enter); a press made before the page has connected to the
        # kernel is lost (the prompt stays "[ ]"), so press again until the cell runs.
        for _ in range(8):
            driver.execute_script(_FIND_CELL, marker).click()
            ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
            started = time.monotonic()
            while time.monotonic() - started < 10 and driver.execute_script(_PROMPT, marker) == "[ ]:":
                time.sleep(0.2)
            if driver.execute_script(_PROMPT, marker) != "[ ]:":
                break


def test_explorer_slider_changes_the_image_in_chromium(lab, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = _chromium(tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "explorer-failure.png").unlink(missing_ok=True)
    try:
        _open_and_run(driver, lab, NOTEBOOK.name, [MARKER])

        before = _wait(driver, _IMAGE_PIXELS, timeout=120, what="the explorer widget and its image")
        explorer = driver.find_element(By.CSS_SELECTOR, ".pgan-explorer")
        handle = explorer.find_element(By.CSS_SELECTOR, ".noUi-handle")
        readout = explorer.find_element(By.CSS_SELECTOR, ".widget-readout")
        assert readout.text.strip() in ("+0.0", "0.0"), readout.text
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", explorer)
        ActionChains(driver).click_and_hold(handle).move_by_offset(40, 0).release().perform()
        deadline = time.monotonic() + 30
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.1)
            after = driver.execute_script(_IMAGE_PIXELS) or before
        assert readout.text.strip() not in ("+0.0", "0.0"), "the slider did not move"
        assert after != before, "the explorer's image did not change after the slider moved"
        explorer.screenshot(str(ARTIFACTS / "explorer.png"))
        driver.save_screenshot(str(ARTIFACTS / "explorer-page.png"))

        # Round trip: key press on the slider -> kernel renders -> new picture loaded in the page.
        driver.execute_script(_WATCH)
        latencies = []
        for i in range(10):
            n = driver.execute_script("return window.__pictures.length")
            handle.send_keys(Keys.ARROW_LEFT if i % 2 == 0 else Keys.ARROW_RIGHT)
            _wait(driver, "return window.__pictures.length > arguments[0]", n, timeout=20,
                  what="a new picture after an arrow key")
            time.sleep(0.05)
            latencies.append(driver.execute_script(
                "return window.__pictures.find(t => t > window.__keys.at(-1)) - window.__keys.at(-1)"))
        result = {"median_ms": statistics.median(latencies), "max_ms": max(latencies),
                  "latencies_ms": [round(v, 1) for v in latencies], "slider": readout.text}
        (ARTIFACTS / "browser-latency.json").write_text(json.dumps(result, indent=2))
        print(f"\nslider key press -> new image in the page: median {result['median_ms']:.0f} ms, "
              f"max {result['max_ms']:.0f} ms over {len(latencies)} presses")
    finally:
        driver.quit()


REPAIR_NOTEBOOK = ROOT / "notebooks" / "07_image_repair.ipynb"
REPAIR_MARKER = "# Paint a hole: drag over the photo"       # first line of the canvas cell in notebook 07
# What the canvas cell of notebook 07 uses, defined as notebook 07 defines it.
REPAIR_SETUP = """# set-up for the canvas cell
import torch
from pgan_lib import pretrained
from pgan_lib.data import load_dataset
from pgan_lib.explore.repair import RepairCanvas
gan_model = pretrained.load("fashion-repair")
x = load_dataset("fashion-mnist", "test", limit=8).float_images()
"""
_RESULT_PIXELS = _pixels_of(".pgan-repair-result")        # the repair shown under the canvas


def test_repair_canvas_repairs_a_painted_hole_in_chromium(lab, tmp_path):
    """Notebook 07's drawing canvas: a drag across the photo paints a hole; letting go shows a repair."""
    import nbformat
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    cells = nbformat.read(REPAIR_NOTEBOOK, as_version=4).cells
    canvas_cell = next(c.source for c in cells if c.cell_type == "code" and c.source.startswith(REPAIR_MARKER))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REPAIR_SETUP),
                                         nbformat.v4.new_code_cell(canvas_cell)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "lab" / "repair_canvas.ipynb")

    driver = _chromium(tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        _open_and_run(driver, lab, "repair_canvas.ipynb", ["# set-up for the canvas cell", REPAIR_MARKER])
        _wait(driver, "return document.querySelector('.pgan-repair-canvas canvas, canvas.pgan-repair-canvas')",
              timeout=120, what="the repair canvas")
        canvas = driver.find_element(By.CSS_SELECTOR, ".pgan-repair-canvas canvas, canvas.pgan-repair-canvas")
        assert driver.execute_script(_RESULT_PIXELS) is None, "a repair was shown before anything was painted"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
        # A horizontal stroke across the middle of the photo (offsets from the canvas centre, in CSS pixels).
        drag = ActionChains(driver).move_to_element_with_offset(canvas, -80, 0).click_and_hold()
        for dx in range(-60, 81, 20):
            drag = drag.move_to_element_with_offset(canvas, dx, 10)
        drag.release().perform()
        repaired = _wait(driver, _RESULT_PIXELS, timeout=60, what="the repair after the drag")
        status = driver.execute_script("return [...document.querySelectorAll('.widget-label')]"
                                       ".map(e => e.innerText).join(' | ')")
        assert "hole of" in status, status
        holes = int(status.split("hole of")[1].split()[0])
        assert 20 <= holes < 28 * 28, status                            # a stroke, not a dot and not everything
        canvas.screenshot(str(ARTIFACTS / "repair-canvas.png"))
        assert repaired.startswith("data:image/png")
    finally:
        driver.quit()
