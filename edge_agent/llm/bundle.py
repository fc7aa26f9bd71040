"""Open a bundle folder: validate its manifest and check every file against it."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from edge_agent.llm.manifest import MANIFEST_NAME, SCHEMA_VERSION, FileEntry, Manifest
from edge_agent.paths import cache_root

_CHUNK_BYTES = 1 << 20
log = logging.getLogger(__name__)


class BundleError(Exception):
    """A bundle cannot be used; the message names the file and the reason."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def describe_file(path: Path) -> FileEntry:
    return FileEntry(sha256=sha256_file(path), size_bytes=path.stat().st_size)


def read_manifest(bundle_dir: Path) -> Manifest:
    """Parse and validate ``manifest.json``; raise BundleError naming what is wrong."""
    path = Path(bundle_dir) / MANIFEST_NAME
    if not Path(bundle_dir).is_dir():
        raise BundleError(f"{bundle_dir}: not a bundle folder (it does not exist)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: missing; this folder is not a bundle") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise BundleError(f"{path}: expected a JSON object")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{path}: manifest schema version {version!r} is not supported "
            f"(this edge-agent reads version {SCHEMA_VERSION}); rebuild or upgrade"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise BundleError(f"{path}: invalid manifest: {exc}") from exc


def verify_files(bundle_dir: Path, manifest: Manifest, *, check_hashes: bool = True) -> None:
    """Check that every listed file exists with the recorded size (and hash)."""
    bundle_dir = Path(bundle_dir)
    required = {manifest.model_file, manifest.tokenizer_file}
    unlisted = required - manifest.files.keys()
    if unlisted:
        raise BundleError(f"{bundle_dir / MANIFEST_NAME}: does not list {sorted(unlisted)}")
    for name, entry in manifest.files.items():
        path = bundle_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleError(f"{bundle_dir / MANIFEST_NAME}: file name {name!r} leaves the bundle")
        if not path.is_file():
            raise BundleError(f"{path}: missing from the bundle")
        size = path.stat().st_size
        if size != entry.size_bytes:
            raise BundleError(
                f"{path}: size {size} bytes, manifest says {entry.size_bytes} "
                "(truncated or replaced)"
            )
        if check_hashes and sha256_file(path) != entry.sha256:
            raise BundleError(f"{path}: sha256 does not match the manifest (corrupt or modified)")


@dataclass(frozen=True)
class Bundle:
    """A validated bundle folder."""

    path: Path
    manifest: Manifest

    @property
    def model_path(self) -> Path:
        return self.path / self.manifest.model_file

    @property
    def tokenizer_path(self) -> Path:
        return self.path / self.manifest.tokenizer_file


VerifyMode = Literal["always", "first", "size"]


def open_bundle(bundle_dir: Path | str, *, verify: VerifyMode = "always") -> Bundle:
    """Validate a bundle folder and return it; raise BundleError on any problem.

    ``verify``: "always" hashes every file; "size" checks sizes only; "first" hashes
    once and then trusts files whose size and modification time are unchanged (a
    stamp under the cache folder records them), which keeps restarts fast on a Pi.
    """
    path = Path(bundle_dir)
    manifest = read_manifest(path)
    stamp = _stamp_path(path) if verify == "first" else None
    trusted = stamp is not None and _stamp_matches(stamp, path, manifest)
    verify_files(path, manifest, check_hashes=verify != "size" and not trusted)
    if stamp is not None and not trusted:
        _write_stamp(stamp, path, manifest)
    return Bundle(path=path, manifest=manifest)


def _stamp_path(bundle_dir: Path) -> Path:
    manifest_hash = sha256_file(bundle_dir / MANIFEST_NAME)
    return cache_root() / "verified" / f"{manifest_hash}.json"


def _file_marks(bundle_dir: Path, manifest: Manifest) -> dict[str, list[int]]:
    marks = {}
    for name in sorted(manifest.files):
        stat = (bundle_dir / name).stat()
        marks[name] = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
    return marks


def _stamp_matches(stamp: Path, bundle_dir: Path, manifest: Manifest) -> bool:
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
        return bool(recorded == _file_marks(bundle_dir.resolve(), manifest))
    except (OSError, ValueError):
        return False


def _write_stamp(stamp: Path, bundle_dir: Path, manifest: Manifest) -> None:
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(_file_marks(bundle_dir.resolve(), manifest)), encoding="utf-8")
    except OSError as exc:  # a read-only cache only costs a re-hash next time
        log.warning("cannot record the verified bundle in %s: %s", stamp, exc)
