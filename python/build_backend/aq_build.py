"""The build backend of arrayqueues-swift (PEP 517), in the tree and without requirements.

``pip install ./python`` and ``pip wheel ./python`` call ``build_wheel``, which

1. builds the C library of ArrayQueues exactly as C users get it, with ``scripts/c-library``
   of the repository root (this file's grandparent's parent, where ``Package.swift`` is) into a
   scratch prefix: release mode, the Swift runtime linked statically (``-static-stdlib``),
   stripped. There is one way to build the library, and the wheel ships that library;
2. compiles the extension module ``arrayqueues_swift._native`` (``_native*.c``) against the
   header that prefix holds (``arrayqueues.h``) and the Python headers;
3. bundles ``libArrayQueuesC.so`` and every shared library it needs that a machine of the same
   kind does not always have -- libzmq and libzmq's own dependencies; the Swift runtime is
   inside the library already -- into ``arrayqueues_swift/_libs``, with ``load-order.txt``
   (dependencies first) that the package reads to load them when it is imported. The wheel
   therefore runs where neither Swift nor libzmq is installed;
4. writes the wheel (``cpXY-cpXY-linux_<arch>``).

Nothing is downloaded. Editable installs and source distributions are not supported.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "arrayqueues_swift"
DISTRIBUTION = "arrayqueues_swift"
PRODUCT = "ArrayQueuesC"
PYTHON_DIR = Path(__file__).resolve().parent.parent
ROOT = PYTHON_DIR.parent
SOURCE = PYTHON_DIR / "src" / PACKAGE

# Libraries every Linux machine of this kind has (the manylinux policy's list): not bundled.
SYSTEM_LIBRARIES = re.compile(
    r"^(linux-vdso|ld-linux|libc|libm|libdl|librt|libpthread|libutil|libresolv|libnsl|libgcc_s|libstdc\+\+|libz)\.so"
)


def _log(message: str) -> None:
    print(f"arrayqueues-swift build: {message}", file=sys.stderr, flush=True)


def _run(command: list[str], cwd: Path | None = None) -> str:
    _log(" ".join(command))
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed with status {done.returncode}: {' '.join(command)}")
    return done.stdout


def _project() -> tuple[str, str, list[str], str, str]:
    """Name, version, dependencies, summary and Python requirement from pyproject.toml."""
    text = (PYTHON_DIR / "pyproject.toml").read_text()
    project = text.split("[project]", 1)[1]

    def value(key: str) -> str:
        found = re.search(rf'^{key}\s*=\s*"([^"]*)"', project, re.M)
        if not found:
            raise RuntimeError(f"pyproject.toml: no {key} in [project]")
        return found.group(1)

    dependencies = re.findall(r'"([^"]+)"', re.search(r"^dependencies\s*=\s*\[(.*?)\]", project, re.M | re.S).group(1))
    return value("name"), value("version"), dependencies, value("description"), value("requires-python")


def _swift_library(prefix: Path) -> Path:
    """Runs ``scripts/c-library PREFIX`` (the one build of the C library, see its header) and
    returns the library it installed; the header is in ``PREFIX/include``."""
    if not (ROOT / "Package.swift").exists():
        raise RuntimeError(f"no Package.swift in {ROOT}: build from a checkout of ArrayQueues")
    if shutil.which("swift") is None:
        raise RuntimeError("swift is not on PATH: building arrayqueues-swift needs Swift 6 (install a wheel built elsewhere otherwise)")
    _run(["bash", str(ROOT / "scripts" / "c-library"), str(prefix)], cwd=ROOT)
    library = prefix / "lib" / f"lib{PRODUCT}.so"
    if not library.exists():
        raise RuntimeError(f"scripts/c-library did not make {library}")
    return library


def _dependencies(library: Path) -> dict[str, Path]:
    """soname -> path of every library `library` needs, directly or not, except the system's."""
    found: dict[str, Path] = {}
    for line in _run(["ldd", str(library)]).splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>":
            if parts[2] == "not":
                raise RuntimeError(f"{library.name} needs {parts[0]}, which the loader cannot find")
            if not SYSTEM_LIBRARIES.match(parts[0]):
                found[parts[0]] = Path(parts[2])
    return found


def _bundle(library: Path, destination: Path) -> list[str]:
    """Copies the library and its non-system dependencies into `destination`; returns their
    names, each after everything it depends on."""
    destination.mkdir(parents=True)
    libraries = {library.name: library, **_dependencies(library)}
    # A library has strictly fewer (transitive) bundled dependencies than any library that
    # needs it, so sorting by that count puts dependencies first.
    needs = {name: len(set(_dependencies(path)) & set(libraries)) for name, path in libraries.items()}
    order = sorted(libraries, key=lambda name: (needs[name], name))
    for name in order:
        shutil.copy2(libraries[name].resolve(), destination / name)
        (destination / name).chmod(0o755)
    (destination / "load-order.txt").write_text("".join(f"{name}\n" for name in order))
    _log(f"bundled {len(order)} libraries: {', '.join(order)}")
    return order


def _compile_extension(library_dir: Path, header_dir: Path, output: Path) -> None:
    paths = sysconfig.get_paths()
    compiler = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        compiler = "cc"
    _run([
        compiler, "-O2", "-g0", "-fPIC", "-shared", "-std=c11", "-fvisibility=hidden",
        "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers", "-Wno-unused-parameter",
        "-I", paths["include"], "-I", str(header_dir),
        *(str(path) for path in sorted(SOURCE.glob("_native*.c"))), "-o", str(output),
        "-L", str(library_dir), f"-l{PRODUCT}", "-Wl,-rpath,$ORIGIN/_libs", "-Wl,--as-needed",
    ])


def _tag() -> str:
    interpreter = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{interpreter}-{interpreter}-{platform}"


def _metadata(name: str, version: str, dependencies: list[str], summary: str, python: str) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}",
             f"Requires-Python: {python}"]
    lines += [f"Requires-Dist: {dependency}" for dependency in dependencies]
    readme = PYTHON_DIR / "README.md"
    body = readme.read_text() if readme.exists() else ""
    return "\n".join(lines + ["Description-Content-Type: text/markdown", "", body])


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


# MARK: - PEP 517


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    """The metadata alone, without building (pip asks for it before the wheel)."""
    name, version, dependencies, summary, python = _project()
    info = Path(metadata_directory) / f"{DISTRIBUTION}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_metadata(name, version, dependencies, summary, python))
    return info.name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, dependencies, summary, python = _project()
    tag = _tag()
    with tempfile.TemporaryDirectory(prefix="aq-wheel-") as scratch:
        prefix = Path(scratch) / "prefix"
        library = _swift_library(prefix)
        stage = Path(scratch) / PACKAGE
        shutil.copytree(SOURCE, stage, ignore=shutil.ignore_patterns("*.c", "*.h", "__pycache__", "*.pyc", "*.so"))
        _bundle(library, stage / "_libs")
        _compile_extension(stage / "_libs", prefix / "include", stage / f"_native{sysconfig.get_config_var('EXT_SUFFIX')}")

        info = f"{DISTRIBUTION}-{version}.dist-info"
        wheel_name = f"{DISTRIBUTION}-{version}-{tag}.whl"
        files: list[tuple[str, bytes, int]] = []
        for path in sorted(stage.rglob("*")):
            if path.is_file():
                files.append((f"{PACKAGE}/{path.relative_to(stage).as_posix()}", path.read_bytes(), path.stat().st_mode))
        files.append((f"{info}/METADATA", _metadata(name, version, dependencies, summary, python).encode(), 0o644))
        files.append((f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: aq_build\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(), 0o644))
        files.append((f"{info}/top_level.txt", f"{PACKAGE}\n".encode(), 0o644))
        record = [_record_line(path, data) for path, data, _ in files] + [f"{info}/RECORD,,"]
        files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode(), 0o644))

        target = Path(wheel_directory) / wheel_name
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, data, mode in files:
                entry = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
                entry.external_attr = (mode & 0o777 | 0o100000) << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, data)
    _log(f"wrote {target}")
    return wheel_name
