"""The classroom JupyterHub (classroom/jupyterhub_config.py) serves two students who each run kit code.

The hub starts on 127.0.0.1 (free ports) with the classroom configuration, plus what a test
machine needs: the dummy authenticator, a local spawner that needs no system users (homes
under a temporary folder) and an admin service token. Both users' servers are started through
the hub's REST API; in each, a kernel is started and a cell executed through the hub's proxy
(kernel REST API + websocket), and its output is checked: the kit imports, the class size,
the mode and a private cache folder arrive from the configuration, and the course notebooks
were copied into the home. The proxy, ``configurable-http-proxy``, comes from npm
(``.ci/run`` installs it into ``.ci/node``); without it the test is skipped, except under CI
(``CI`` set), where it fails.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "classroom" / "jupyterhub_config.py"
USERS = ("alice", "bob")
CELL = """
import os, pgan_lib
from pgan_lib import classroom, config, doctor
caches = doctor.check_caches()
print("kit", pgan_lib.__name__, config.get_mode().name, classroom.class_size())
print("cache", config.cache_dir(), [c.status for c in caches])
print("home", os.environ["HOME"], os.getcwd())
"""


def _proxy() -> str | None:
    local = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    return shutil.which("configurable-http-proxy") or (str(local) if local.exists() else None)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (proxy, services, user servers, kernels)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class Hub:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: object = None, timeout: float = 10) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with self.opener.open(req, timeout=timeout) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")[:500]


@pytest.fixture
def hub(tmp_path):
    proxy = _proxy()
    if proxy is None:
        if os.environ.get("CI"):
            pytest.fail("configurable-http-proxy is missing: .ci/run installs it with npm (CI must run this test)")
        pytest.skip("configurable-http-proxy not found (npm install --prefix .ci/node configurable-http-proxy@5)")
    pytest.importorskip("jupyterhub", reason="jupyterhub is a dev dependency: pip install -e '.[dev]'")
    port, hub_port, api_port = _free_ports(3)
    token = uuid.uuid4().hex
    course = tmp_path / "course"
    course.mkdir()
    (course / "00_welcome.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    # the servers skip the course-grading and editor extensions a test does not use (they take seconds to load)
    jconfig = tmp_path / "jconfig"
    jconfig.mkdir()
    off = ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.validate_assignment",
           "nbgrader.server_extensions.assignment_list", "nbgrader.server_extensions.course_list", "jupyter_lsp"]
    (jconfig / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": {
        name: False for name in off}}}))
    (tmp_path / "test_config.py").write_text(f"""
c = get_config()
load_subconfig({str(CONFIG)!r})
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set({list(USERS)!r})
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp_path / 'home' / '{username}')!r}
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.db_url = "sqlite:///{tmp_path / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(tmp_path / 'cookie_secret')!r}
c.JupyterHub.pid_file = {str(tmp_path / 'hub.pid')!r}
c.JupyterHub.services.append({{"name": "classroom-test", "api_token": {token!r}}})
c.JupyterHub.load_roles.append({{"name": "classroom-test", "services": ["classroom-test"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users", "list:services",
               "read:services"]}})
c.Spawner.start_timeout = 90
c.Spawner.environment["JUPYTER_CONFIG_DIR"] = {str(jconfig)!r}
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}     # answer 202 at once: both servers start side by side
c.Spawner.args = c.Spawner.args + (["--allow-root"] if {os.geteuid() == 0} else [])
""")
    env = {k: v for k, v in os.environ.items() if k not in ("PGAN_CLASS_SIZE", "PGAN_CACHE_DIR", "MPLBACKEND")}
    env.update(PGAN_CLASS_SIZE="20", PGAN_MODE="quick", PGAN_COURSE_DIR=str(course), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "jconfig"))
    log = open(tmp_path / "hub.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(tmp_path / "test_config.py")], cwd=tmp_path,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = Hub(f"http://127.0.0.1:{port}", token)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.call("GET", "/hub/api/", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterHub did not start:\n" + (tmp_path / "hub.log").read_text()[-4000:])
            time.sleep(0.3)
        client.tmp_path, client.log = tmp_path, tmp_path / "hub.log"
        client.remember = lambda: seen.update(_descendants(proc.pid))
        yield client
    finally:
        seen.update(_descendants(proc.pid))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)          # the hub stops the user servers and the proxy it started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for pid in seen:                              # anything left behind (servers run in sessions of their own)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def _start_server(hub: Hub, user: str) -> None:
    code, body = hub.call("POST", f"/hub/api/users/{user}/server", timeout=30)
    assert code in (201, 202), f"starting {user}'s server: {code} {body}"


def _wait_ready(hub: Hub, user: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        code, body = hub.call("GET", f"/hub/api/users/{user}")
        assert code == 200, body
        server = (body.get("servers") or {}).get("")
        if server and server.get("ready"):
            return
        time.sleep(0.5)
    pytest.fail(f"{user}'s server did not become ready:\n" + hub.log.read_text()[-4000:])


async def _run_cell(hub: Hub, user: str, code: str, timeout: float = 90) -> str:
    """Start a kernel in ``user``'s server through the proxy, run ``code`` over the websocket, return stdout."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    auth = {"Authorization": f"token {hub.token}"}
    status, kernel = await asyncio.to_thread(hub.call, "POST", f"/user/{user}/api/kernels", {"name": "python3"}, 30)
    assert status == 201, f"{user}: starting a kernel: {status} {kernel}"
    ws_url = f"{hub.base.replace('http', 'ws', 1)}/user/{user}/api/kernels/{kernel['id']}/channels"
    conn = await websocket_connect(HTTPRequest(ws_url, headers=auth, connect_timeout=20, request_timeout=20))
    msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
    conn.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": user, "session": session, "msg_type": "execute_request",
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    out: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{user}: no answer from the kernel within {timeout} s; got {''.join(out)!r}"
            raw = await asyncio.wait_for(conn.read_message(), left)
            assert raw is not None, f"{user}: the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise AssertionError(f"{user}: the cell raised {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    finally:
        conn.close()


def test_two_students_run_kit_code_through_the_hub(hub):
    code, body = hub.call("GET", "/hub/api/users")          # the allowed users exist once the hub is up
    assert code == 200 and {u["name"] for u in body} == set(USERS), body
    for user in USERS:
        _start_server(hub, user)
    deadline = time.monotonic() + 90                 # generous bounds for a busy machine; typically ~20 s
    for user in USERS:
        _wait_ready(hub, user, deadline)
    hub.remember()

    async def both() -> list[str]:
        return await asyncio.gather(*(_run_cell(hub, user, CELL) for user in USERS))

    outputs = asyncio.run(both())
    hub.remember()
    for user, text in zip(USERS, outputs):
        home = hub.tmp_path / "home" / user
        lines = dict(line.split(" ", 1) for line in text.strip().splitlines())
        assert lines["kit"] == "pgan_lib quick 20", text
        assert lines["cache"] == f"{home / '.cache' / 'pgan-kit'} ['OK', 'OK']", text
        assert lines["home"] == f"{home} {home}", text
        assert (home / "pgan-course" / "00_welcome.ipynb").is_file()
    code, body = hub.call("GET", "/hub/api/services")
    assert code == 200 and "idle-culler" in body, body
