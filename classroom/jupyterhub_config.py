# JupyterHub for a class on one machine with one GPU, running pgan-kit.
#
#   sudo /opt/pgan-kit/.venv/bin/jupyterhub -f /opt/pgan-kit/classroom/jupyterhub_config.py
#
# What it sets up (classroom/README.md explains each choice):
# - the kit installed once, in the hub's own Python environment, read-only for students: every
#   user's server and kernels run that environment's Python, so `import pgan_lib` works for all;
# - each user's server gets PGAN_CLASS_SIZE (each kernel then takes only its share of the GPU),
#   PGAN_MODE and a private PGAN_CACHE_DIR under the user's home;
# - a per-user memory (and CPU) limit, enforced where the spawner can enforce it: SystemdSpawner
#   (pip install jupyterhub-systemdspawner) puts each server in its own cgroup; without it the
#   LocalProcessSpawner is used, which only passes the limit on as MEM_LIMIT (advisory);
# - the idle culler as a hub service (stops servers nobody used for PGAN_HUB_IDLE_TIMEOUT s), and
#   idle kernels shut down by each server, so GPU memory held by forgotten kernels comes back;
# - the course notebooks (student copies) put in each new user's home once, never overwritten.
#
# Settings, read from the environment when the hub starts (defaults in brackets):
#   PGAN_CLASS_SIZE         kernels sharing the GPU [20]: 80 GB per GPU / peak of the largest notebook
#                           (benchmarks/notebook_memory.py prints the table)
#   PGAN_HUB_MEM_LIMIT      host RAM per user [4G]; PGAN_HUB_CPU_LIMIT  CPU cores per user [2]
#   PGAN_HUB_IDLE_TIMEOUT   seconds before an idle server is stopped [3600]
#   PGAN_MODE               quick or full [quick]
#   PGAN_COURSE_DIR         notebooks copied to each new user [the kit's student/ folder, from `make student`]
#   PGAN_HUB_IP, PGAN_HUB_PORT   where the hub listens [all interfaces, 8000]
import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (provided by JupyterHub when it reads this file)

KIT = Path(__file__).resolve().parent.parent
env = os.environ.get
class_size = env("PGAN_CLASS_SIZE", "20")
course_dir = Path(env("PGAN_COURSE_DIR") or KIT / "student")

# -- the hub ------------------------------------------------------------------------------------
c.JupyterHub.ip = env("PGAN_HUB_IP", "")
c.JupyterHub.port = int(env("PGAN_HUB_PORT", "8000"))
c.Authenticator.allow_all = False       # list students in c.Authenticator.allowed_users (or use your site's authenticator)

# -- the spawner: SystemdSpawner when installed (limits enforced), else local processes ----------
try:
    import systemdspawner  # noqa: F401  (only to know whether it is installed)
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.readonly_paths = [str(KIT)]    # the shared kit: students read it, never write it
    c.SystemdSpawner.isolate_tmp = True             # a private /tmp per user
    c.SystemdSpawner.unit_name_template = "pgan-{USERNAME}"
except ImportError:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"   # mem_limit is advisory here
c.Spawner.mem_limit = env("PGAN_HUB_MEM_LIMIT", "4G")
c.Spawner.cpu_limit = float(env("PGAN_HUB_CPU_LIMIT", "2"))

# every server and kernel runs the hub's Python environment, where the kit is installed
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.default_url = "/lab"
c.Spawner.args = [
    # a kernel holds its GPU memory until it exits: shut down kernels idle for 20 minutes
    "--MappingKernelManager.cull_idle_timeout=1200",
    "--MappingKernelManager.cull_interval=120",
]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60


def _home(spawner) -> str:
    """The user's home folder as the spawner will set it."""
    home = getattr(spawner, "home_dir", None)       # SimpleLocalProcessSpawner (tests) names it
    if home:
        return home
    try:
        import pwd
        return pwd.getpwnam(spawner.user.name).pw_dir
    except (ImportError, KeyError):
        return os.path.expanduser(f"~{spawner.user.name}")


c.Spawner.environment = {
    "PGAN_CLASS_SIZE": class_size,
    "PGAN_MODE": env("PGAN_MODE", "quick"),
    "PGAN_CACHE_DIR": lambda spawner: os.path.join(_home(spawner), ".cache", "pgan-kit"),
    "MPLCONFIGDIR": lambda spawner: os.path.join(_home(spawner), ".cache", "matplotlib"),
}
if env("PGAN_DATA_DIR"):
    c.Spawner.environment["PGAN_DATA_DIR"] = env("PGAN_DATA_DIR")


def copy_course(spawner) -> None:
    """Put the course notebooks in a new user's home once (pgan-course/); a student's own copy is never replaced."""
    if not course_dir.is_dir():
        spawner.log.info("pgan-kit: no course folder %s (run `make student`); nothing copied", course_dir)
        return
    target = Path(_home(spawner)) / "pgan-course"
    if target.exists():
        return
    shutil.copytree(course_dir, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    owner = getattr(spawner, "user", None)
    if hasattr(os, "chown") and os.geteuid() == 0 and owner is not None:
        try:
            import pwd
            entry = pwd.getpwnam(owner.name)
        except (ImportError, KeyError):
            return                                    # not a system user (a test hub): leave the files as they are
        for path in [target, *target.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)


c.Spawner.pre_spawn_hook = copy_course

# -- the idle culler, as a hub service -------------------------------------------------------
c.JupyterHub.services = [
    {"name": "idle-culler",
     "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={env('PGAN_HUB_IDLE_TIMEOUT', '3600')}"]},
]
c.JupyterHub.load_roles = [
    {"name": "idle-culler",
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
     "services": ["idle-culler"]},
]
