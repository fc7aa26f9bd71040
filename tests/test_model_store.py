"""Model updates on the device: install, self-test, atomic switch, rollback, bad input."""

from __future__ import annotations

import errno
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.__main__ import main as cli
from edge_agent.model_store import InstallError, Store, install, rollback


@pytest.fixture
def two_bundles(tiny_bundle: Callable[..., Path]) -> tuple[Path, Path]:
    return tiny_bundle("llama_long_context", "int4"), tiny_bundle("llama_long_context", "int8")


def test_install_self_tests_switches_and_rolls_back(
    tmp_path: Path, two_bundles: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = two_bundles
    store = Store(tmp_path / "models")
    v1 = install(str(first), store, reload=False)
    assert "self-test passed" in capsys.readouterr().out
    assert store.current.resolve() == (store.root / v1).resolve()
    archive = tmp_path / "second.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(second, arcname="bundle")
    v2 = install(str(archive), store, reload=False, self_test=False)
    assert v2 != v1 and store.current_version() == v2
    assert (store.current / "manifest.json").exists()
    assert rollback(store, reload=False) == v1 and store.current_version() == v1
    assert cli(["model", "--store", str(store.root), "list"]) == 0
    listing = capsys.readouterr().out
    assert f"* {v1}" in listing and f"  {v2}" in listing


def test_a_bad_source_is_refused_and_current_is_kept(
    tmp_path: Path, two_bundles: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = two_bundles
    store = Store(tmp_path / "models")
    good = install(str(first), store, reload=False, self_test=False)

    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(200))
    with pytest.raises(InstallError, match=r"corrupt\.tar\.gz"):
        install(str(corrupt), store, reload=False)

    tampered = tmp_path / "tampered"
    shutil.copytree(first, tampered)
    data = next(p for p in tampered.iterdir() if p.name.endswith(".onnx.data"))
    with data.open("r+b") as file:
        file.seek(100)
        file.write(b"\x00\x01\x02\x03")
    with pytest.raises(InstallError, match=re.escape(data.name)):
        install(str(tampered), store, reload=False)

    assert cli(["model", "--store", str(store.root), "install", str(tmp_path / "nothing")]) == 1
    assert "nothing: no such file" in capsys.readouterr().err
    assert store.current_version() == good
    assert not list(store.root.glob(".incoming-*"))  # staging cleared


def test_a_full_disk_or_an_interrupted_install_changes_nothing(
    tmp_path: Path, two_bundles: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_bundles
    store = Store(tmp_path / "models")
    good = install(str(first), store, reload=False, self_test=False)
    (store.root / ".incoming-crashed").mkdir()  # a power cut during an earlier install

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copytree", disk_full)
    with pytest.raises(InstallError, match="disk is full"):
        install(str(second), store, reload=False, self_test=False)
    assert store.current_version() == good
    assert not list(store.root.glob(".incoming-*"))


def test_old_versions_beyond_keep_are_removed(
    tmp_path: Path, two_bundles: tuple[Path, Path]
) -> None:
    first, second = two_bundles
    store = Store(tmp_path / "models")
    v1 = install(str(first), store, reload=False, self_test=False)
    v2 = install(str(second), store, reload=False, self_test=False, keep=1)
    assert store.history() == [v2] and not (store.root / v1).exists()
    with pytest.raises(InstallError, match="no earlier version"):
        rollback(store, reload=False)


def test_install_from_a_url(tmp_path: Path, two_bundles: tuple[Path, Path]) -> None:
    import functools
    import http.server
    import threading

    first, _ = two_bundles
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "bundle.tar.gz", "w:gz") as tar:
        tar.add(first, arcname="bundle")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        store = Store(tmp_path / "models")
        version = install(f"{url}/bundle.tar.gz", store, reload=False, self_test=False)
        assert store.current_version() == version
        with pytest.raises(InstallError, match="download failed"):
            install(f"{url}/missing.tar.gz", store, reload=False, self_test=False)
        assert store.current_version() == version
    finally:
        server.shutdown()
        server.server_close()
