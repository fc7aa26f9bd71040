"""``edge-agent model``: install, list and roll back model bundles on the device.

The store (``/var/lib/edge-agent/models`` by default) holds one folder per installed
bundle and a ``current`` symbolic link that the service loads. An install unpacks into a
staging folder beside them, checks the manifest and every file's hash, loads the model and
answers a request with it (the self-test), and only then moves the folder into place and
switches ``current`` in one atomic rename. Whatever stops an install half way (a corrupt
archive, a full disk, a power cut) leaves ``current`` where it was; the staging folder is
cleared by the next install. The running service is then asked to reload (SIGHUP through
systemd); if it is not active afterwards, ``current`` goes back to the previous bundle.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.llm.bundle import BundleError, open_bundle, read_manifest

log = logging.getLogger(__name__)

DEFAULT_STORE = Path("/var/lib/edge-agent/models")
SERVICE = "edge-agent"
HISTORY = "history.json"


class InstallError(Exception):
    """An install or rollback that did not happen; ``current`` is unchanged."""


@dataclass
class Store:
    root: Path

    @property
    def current(self) -> Path:
        return self.root / "current"

    def history(self) -> list[str]:
        """Installed version folders, oldest first (the last is the newest switch)."""
        try:
            data = json.loads((self.root / HISTORY).read_text())
        except (OSError, ValueError):
            return []
        return [str(v) for v in data if isinstance(v, str) and (self.root / v).is_dir()]

    def _write_history(self, versions: list[str]) -> None:
        temporary = self.root / f".{HISTORY}.tmp"
        temporary.write_text(json.dumps(versions, indent=1) + "\n")
        os.replace(temporary, self.root / HISTORY)

    def current_version(self) -> str | None:
        return os.readlink(self.current) if self.current.is_symlink() else None

    def switch(self, version: str) -> None:
        """Point ``current`` at ``version`` atomically (a new link renamed over the old)."""
        link = self.root / f".current-{os.getpid()}"
        link.unlink(missing_ok=True)
        os.symlink(version, link)
        os.replace(link, self.current)
        history = [v for v in self.history() if v != version] + [version]
        self._write_history(history)

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (never the current one)."""
        history = self.history()
        current = self.current_version()
        removed = []
        for version in history[:-keep] if keep > 0 else []:
            if version != current:
                shutil.rmtree(self.root / version, ignore_errors=True)
                removed.append(version)
        self._write_history([v for v in history if v not in removed])
        return removed

    def clear_staging(self) -> None:
        for leftover in self.root.glob(".incoming-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def install(source: str, store: Store, *, keep: int = 3, self_test: bool = True,
            reload: bool = True) -> str:  # fmt: skip
    """Install the bundle at ``source`` (folder, .tar[.gz|.xz], .zip or http(s) URL) and
    make it current. Returns the version folder's name. Raises InstallError."""
    store.root.mkdir(parents=True, exist_ok=True)
    store.clear_staging()
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=store.root))
    try:
        unpacked = _fetch_and_unpack(source, staging)
        bundle_dir = _find_bundle(unpacked, source)
        try:
            bundle = open_bundle(bundle_dir, verify="always")
        except BundleError as error:
            raise InstallError(f"{source}: refused: {error}") from None
        if self_test:
            _self_test(bundle_dir)
        version = f"{_slug(bundle.manifest.name)}-{_manifest_digest(bundle_dir)}"
        target = store.root / version
        if not target.exists():
            os.replace(bundle_dir, target)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise InstallError(
                f"{source}: the disk is full ({store.root}); nothing changed"
            ) from None
        raise InstallError(f"{source}: {error}; nothing changed") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    previous = store.current_version()
    store.switch(version)
    print(f"installed {version}; current -> {version}" + (f" (was {previous})" if previous else ""))
    if reload and not _reload_service():
        if previous is not None:
            store.switch(previous)
            _reload_service()
        raise InstallError(f"the service did not come back with {version}; current is "
                           f"{previous or 'unset'} again")  # fmt: skip
    removed = store.prune(keep)
    if removed:
        print(f"removed old versions: {', '.join(removed)}")
    return version


def rollback(store: Store, *, reload: bool = True) -> str:
    """Make the version installed before the current one current again. The version left
    goes to the back of the line, so rollbacks walk further back through history."""
    current = store.current_version()
    older = [v for v in store.history() if v != current]
    if not older:
        raise InstallError("no earlier version to go back to")
    store.switch(older[-1])
    if current is not None:
        store._write_history([current, *[v for v in store.history() if v != current]])
    if reload:
        _reload_service()
    return older[-1]


# -- pieces --------------------------------------------------------------------------------


def _fetch_and_unpack(source: str, staging: Path) -> Path:
    if source.startswith(("http://", "https://")):
        archive = staging / "download"
        _download(source, archive)
        return _unpack(archive, staging / "unpacked", source)
    path = Path(source)
    if path.is_dir():
        copy = staging / "unpacked"
        shutil.copytree(path, copy, symlinks=False)
        return copy
    if path.is_file():
        return _unpack(path, staging / "unpacked", source)
    raise InstallError(f"{source}: no such file or folder")


def _download(url: str, out: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, out.open("wb") as file:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                file.write(chunk)
                done += len(chunk)
                if total and sys.stderr.isatty():
                    print(f"\rdownloading {done * 100 // total}%", end="", file=sys.stderr)
        if total and sys.stderr.isatty():
            print(file=sys.stderr)
    except OSError as error:
        if getattr(error, "errno", None) == errno.ENOSPC:
            raise
        raise InstallError(f"{url}: download failed: {error}") from None


def _unpack(archive: Path, out: Path, source: str) -> Path:
    out.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle_zip:
                for member in bundle_zip.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise InstallError(f"{source}: unsafe path in archive: {member}")
                bundle_zip.extractall(out)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as bundle_tar:
                bundle_tar.extractall(out, filter="data")  # refuses links and paths outside
        else:
            raise InstallError(f"{source}: not a bundle folder, .tar(.gz) or .zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise InstallError(f"{source}: corrupt archive: {error}") from None
    return out


def _find_bundle(unpacked: Path, source: str) -> Path:
    manifests = sorted(unpacked.rglob("manifest.json"), key=lambda p: len(p.parts))
    if not manifests:
        raise InstallError(f"{source}: no manifest.json inside: not a model bundle")
    return manifests[0].parent


def _manifest_digest(bundle_dir: Path) -> str:
    import hashlib

    return hashlib.sha256((bundle_dir / "manifest.json").read_bytes()).hexdigest()[:10]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "bundle"


def _self_test(bundle_dir: Path) -> None:
    """Load the bundle and answer one request on the demo home, in a child process so a
    crash in native code is reported instead of taking the installer down."""
    started = time.monotonic()
    code = (
        "import sys\n"
        "from edge_agent.agent.planner import Planner\n"
        "from edge_agent.agent.policy import Policy, PolicyConfig\n"
        "from edge_agent.demo.fixtures import demo_registry\n"
        "from edge_agent.llm.bundle import open_bundle\n"
        "from edge_agent.llm.structured import JsonModel\n"
        "from edge_agent.llm.text import TextModel\n"
        "from edge_agent.messages import Request\n"
        "bundle = open_bundle(sys.argv[1], verify='size')\n"
        "model = JsonModel(TextModel.load(bundle))\n"
        "planner = Planner(model, demo_registry(), Policy(PolicyConfig()),\n"
        "                  prompt_style=bundle.manifest.planner_prompt)\n"
        "response = planner.handle(Request(text='turn on the porch light'))\n"
        "print(response.status, response.text)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(bundle_dir)], capture_output=True,
                            text=True, timeout=600, check=False)  # fmt: skip
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise InstallError(f"the bundle failed its self-test (load and answer): {last}")
    print(f"self-test passed in {time.monotonic() - started:.1f} s: {result.stdout.strip()}")


def _reload_service() -> bool:
    """Ask a running service to reload; True when it is (still) active afterwards, or
    when there is no service to ask."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return True
    active = subprocess.run([systemctl, "is-active", "--quiet", SERVICE], check=False)
    if active.returncode != 0:
        return True  # not running: it will load `current` when it starts
    subprocess.run([systemctl, "reload", SERVICE], check=False)
    time.sleep(5)
    again = subprocess.run([systemctl, "is-active", "--quiet", SERVICE], check=False)
    return again.returncode == 0


# -- command line --------------------------------------------------------------------------


def add_commands(commands: Any) -> None:
    model = commands.add_parser("model", help="install, list or roll back model bundles")
    model.add_argument("--store", type=Path, default=DEFAULT_STORE, help="the model folder")
    actions = model.add_subparsers(dest="model_command", required=True)
    add = actions.add_parser("install", help="install a bundle and make it current")
    add.add_argument("source", help="a bundle folder, a .tar.gz or .zip of one, or a URL")
    add.add_argument("--keep", type=int, default=3, help="versions to keep")
    add.add_argument("--no-self-test", action="store_true")
    add.add_argument("--no-reload", action="store_true", help="do not signal the service")
    actions.add_parser("rollback", help="go back to the previous version")
    actions.add_parser("list", help="installed versions")


def run_command(args: argparse.Namespace) -> int:
    store = Store(args.store)
    try:
        if args.model_command == "install":
            install(args.source, store, keep=args.keep, self_test=not args.no_self_test,
                    reload=not args.no_reload)  # fmt: skip
        elif args.model_command == "rollback":
            print(f"current -> {rollback(store)}")
        else:
            current = store.current_version()
            for version in store.history():
                try:
                    name = read_manifest(store.root / version).name
                except BundleError as error:
                    name = f"unreadable: {error}"
                print(f"{'*' if version == current else ' '} {version}  ({name})")
    except InstallError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except PermissionError as error:
        print(f"error: {error} (run as root, or pass --store)", file=sys.stderr)
        return 1
    return 0
