"""One kit for a whole class: installed once, read-only, with a private cache per user.

The read-only install is simulated by an audit hook in a child process that refuses (and
records) every write, rename, removal or new folder under the kit's folders (``pgan_lib/``,
``checkpoints/``): a student's session, which loads and samples the shipped models, renders
the catalogue, runs ``pgan sample`` and ``pgan doctor``, must work and must never even try
to write there; its cache lands under the student's home. Concurrent first use: several
processes fill the same empty cache of evaluation features at once and the file ends whole,
with no temporary file left (the catalogue's cache: tests/test_hostile_runs.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pgan_lib.data import fashion_mnist

ROOT = Path(__file__).resolve().parent.parent

READ_ONLY_HOOK = r"""
import json, os, sys
KIT = [os.path.realpath(p) for p in sys.argv[1:3]]
refused = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

def _inside(path):
    if isinstance(path, int) or path is None:
        return False
    p = os.path.realpath(os.path.abspath(os.fsdecode(path)))
    return any(p == k or p.startswith(k + os.sep) for k in KIT)

def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & WRITE_FLAGS)
        paths = [path] if writing else []
    elif event in ("os.rename", "os.replace", "os.link", "os.symlink"):
        paths = [args[0], args[1]]
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.chmod", "os.chown", "os.truncate", "os.utime"):
        paths = [args[0]]
    else:
        return
    for p in paths:
        if _inside(p):
            refused.append(f"{event} {os.fsdecode(p)}")
            raise PermissionError(13, "Read-only file system (simulated shared install)", os.fsdecode(p))

sys.addaudithook(_hook)
"""

SESSION = r"""
import torch
from pgan_lib import doctor, pretrained
from pgan_lib.cli import main as pgan
from pgan_lib.data import catalog

model = pretrained.load("fashion-cgan")
images = model.sample(4, labels=[0, 1, 2, 3], seed=0)
assert images.shape == (4, 1, 28, 28), images.shape
cat = catalog.build_catalog(40, size=32, seed=3)
code = pgan(["sample", "--model", "fashion-cgan", "--n", "8", "--out", sys.argv[3]])
checks = doctor.run_checks()
print("RESULT " + json.dumps({"refused": refused, "sample_code": code, "catalog_path": str(catalog.cache_path(40, 32, 3)),
                              "checks": {c.name: c.status for c in checks}}))
"""


def test_a_read_only_kit_serves_a_student_whose_cache_is_in_their_home(tmp_path):
    try:
        fashion_mnist.find_files()
    except fashion_mnist.FashionMNISTNotFound:
        pytest.skip("Fashion-MNIST is not installed on this machine (make data)")
    home = tmp_path / "home" / "student"
    env = {k: v for k, v in os.environ.items() if k not in ("PGAN_CACHE_DIR", "XDG_CACHE_HOME", "PGAN_CHECKPOINT_DIR")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", PGAN_MODE="quick",
               MPLCONFIGDIR=str(home / ".config" / "matplotlib"))
    script = READ_ONLY_HOOK + SESSION
    out = subprocess.run([sys.executable, "-c", script, str(ROOT / "pgan_lib"), str(ROOT / "checkpoints"),
                          str(tmp_path / "out" / "s.npz")], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    got = json.loads(line[len("RESULT "):])
    assert got["refused"] == [], "the session tried to write inside the kit"
    assert got["sample_code"] == 0 and (tmp_path / "out" / "s.npz").is_file()
    assert Path(got["catalog_path"]).parent == home / ".cache" / "pgan-kit"
    assert Path(got["catalog_path"]).is_file()
    assert "FAIL" not in got["checks"].values(), got["checks"]
    assert got["checks"]["checkpoints"] == "OK" and got["checks"]["cache"] == "OK"


def test_the_simulated_read_only_tree_does_refuse_writes(tmp_path):
    """The hook itself works: writing into the kit's folders is refused and recorded (else the test above proves nothing)."""
    script = READ_ONLY_HOOK + r"""
from pathlib import Path
from pgan_lib.safety import write_atomically
for attempt in (lambda: write_atomically(Path(sys.argv[2]) / "x.json", lambda f: f.write(b"{}")),
                lambda: open(Path(sys.argv[1]) / "new.py", "w"),
                lambda: os.mkdir(Path(sys.argv[1]) / "newdir")):
    try:
        attempt()
    except PermissionError:
        pass
print(json.dumps(refused))
"""
    out = subprocess.run([sys.executable, "-c", script, str(ROOT / "pgan_lib"), str(ROOT / "checkpoints")],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    refused = json.loads(out.stdout.strip().splitlines()[-1])
    # write_atomically: its temporary file is refused, and so is the clean-up of that (never created) file
    assert [r.split()[0] for r in refused] == ["open", "os.remove", "open", "os.mkdir"], refused
    assert not (ROOT / "pgan_lib" / "new.py").exists() and not list((ROOT / "checkpoints").glob("x.json*"))


def test_three_first_users_fill_one_empty_feature_cache_at_once(tmp_path):
    """The evaluation features of a real split, three processes started together on an empty PGAN_CACHE_DIR
    (the catalogue's cache has the same test in test_hostile_runs.py)."""
    try:
        fashion_mnist.find_files()
    except fashion_mnist.FashionMNISTNotFound:
        pytest.skip("Fashion-MNIST is not installed on this machine (make data)")
    env = {**os.environ, "PGAN_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    script = ("import hashlib\n"
              "from pgan_lib.eval.features import reference, shipped_extractor\n"
              "ref = reference(shipped_extractor('fashion-classifier'), 'fashion-mnist', 'test', limit=300, k=3)\n"
              "print(hashlib.sha256(ref.extracted.features.numpy().tobytes() + ref.radii.numpy().tobytes()).hexdigest())\n")
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-1500:] for _, e in outs]
    assert len({o.strip() for o, _ in outs}) == 1, outs          # every process computed the same features
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    (features,) = files                                            # one file, no temporary file left behind
    assert features.startswith("eval/") and features.endswith(".npz")
    with np.load(tmp_path / features) as z:                        # whole
        assert z["features"].shape[0] == 300 and z["radii"].shape == (300,)
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and again.stdout.strip() == outs[0][0].strip()   # and read back the same by a fourth
