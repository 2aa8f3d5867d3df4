"""The wheel (``pip wheel ./python``) runs where neither Swift nor libzmq is installed: it is
installed into a fresh virtual environment and used in a private mount namespace in which
/opt/swift is an empty directory and the system's libzmq an empty file. And the package ships
the C library as ``scripts/c-library`` builds it for C users."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

CHECK = '''
import numpy as np, os, sys
import arrayqueues_swift as aq
name = f"wheel-check-{os.getpid()}"
with aq.ArrayQueue.create(name, 1 << 20, remove=True) as q:
    q.put(np.arange(10, dtype=np.complex64))
    assert (q.get(timeout=5) == np.arange(10)).all()
package = os.path.dirname(aq.__file__)
libraries = sorted({line.split()[-1] for line in open("/proc/self/maps") if ".so" in line.split()[-1]})
ours = [path for path in libraries if any(key in os.path.basename(path) for key in ("swift", "zmq", "ArrayQueuesC", "dispatch", "sodium"))]
print("\\n".join(ours))
assert not [path for path in libraries if path.startswith("/opt/swift")], libraries
assert ours and all(path.startswith(os.path.join(package, "_libs")) for path in ours), ours
print("wheel ok")
'''


@pytest.mark.skipif(not os.environ.get("AQ_WHEEL"), reason="set AQ_WHEEL to a wheel built by `pip wheel ./python` (scripts/test does)")
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="hiding /opt/swift needs root and unshare")
def test_the_wheel_runs_without_swift_and_without_libzmq(tmp_path):
    (wheel,) = glob.glob(os.environ["AQ_WHEEL"])
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-deps", "--disable-pip-version-check", wheel],
                   check=True, timeout=300)
    (tmp_path / "check.py").write_text(textwrap.dedent(CHECK))
    hide = ["mount -t tmpfs none /opt/swift"] if os.path.isdir("/opt/swift") else []
    for candidate in ("/usr/lib/x86_64-linux-gnu/libzmq.so.5", "/usr/lib/aarch64-linux-gnu/libzmq.so.5"):
        if os.path.exists(candidate):
            hide.append(f"mount --bind /dev/null {os.path.realpath(candidate)}")
    script = " && ".join(hide + [f"env -u LD_LIBRARY_PATH PATH=/usr/bin:/bin {venv}/bin/python {tmp_path}/check.py"])
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wheel ok" in done.stdout and "libzmq.so.5" in done.stdout and "libArrayQueuesC.so" in done.stdout
    # The Swift runtime is inside libArrayQueuesC.so (scripts/c-library links it statically).
    assert "libswift" not in done.stdout, done.stdout


def test_the_package_ships_the_library_scripts_c_library_builds():
    """The installed package's library is the one ``scripts/c-library`` makes for C users (the
    build backend runs that script): the Swift runtime linked in statically, so no Swift
    library is bundled next to it and it needs none; libzmq is bundled."""
    import arrayqueues_swift

    libs = os.path.join(os.path.dirname(arrayqueues_swift.__file__), "_libs")
    bundled = sorted(os.listdir(libs))
    assert "libArrayQueuesC.so" in bundled and "libzmq.so.5" in bundled, bundled
    assert not [name for name in bundled if name.startswith(("libswift", "libFoundation", "libdispatch"))], bundled
    order = open(os.path.join(libs, "load-order.txt")).read().split()
    assert order[-1] == "libArrayQueuesC.so" and sorted(order) == sorted(name for name in bundled if name != "load-order.txt")
    readelf = shutil.which("readelf")
    if readelf:
        dynamic = subprocess.run([readelf, "-d", os.path.join(libs, "libArrayQueuesC.so")], capture_output=True,
                                 text=True, timeout=60, check=True).stdout
        needed = [line.split("[")[-1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]
        assert "libzmq.so.5" in needed and not [name for name in needed if "swift" in name or "Foundation" in name], needed
