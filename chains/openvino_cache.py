"""The embedder's OpenVINO models, converted once and kept on disk; the CPU's features.

Converting a sentence-transformers transformer to OpenVINO (tracing it with
``openvino.convert_model``) took ~3-4 s on every ``lcelkit ingest`` on the project's
2-core machines, and compressing its weights to int8 (NNCF) another ~2-5 s. Both give
the same result every time for the same model files, so :func:`load_or_build` saves the
result once under :func:`cache_dir` and later processes read it back (``read_model``:
well under a second).

An entry is keyed (:func:`cache_key`) by the model folder's files (relative names, sizes
and modification times), the OpenVINO version, the NNCF version when it compressed the
weights, the variant (``fp32`` weights or ``int8`` weights) and the model's input names.
A changed model file, a new OpenVINO or a new NNCF therefore makes a new entry; old
entries are left for the user to delete (a few MB to ~130 MB each). Entries are written
into a temporary folder then renamed into place, so that a reader never sees half an
entry; an entry that cannot be read is rebuilt with a warning, never an error.

:func:`cpu_features` reads the CPU's flags (bf16, AMX, VNNI, AVX-512) from
``/proc/cpuinfo``. ``LCELKIT_CPU_NO_BF16=1`` hides bf16 and AMX, so that a machine that
has them takes the code path of one that has not (benchmarks; the kernels OpenVINO picks
are then the f32/int8 ones such a CPU would run, since the precision hint is f32).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_FORMAT",
    "F32_LATENCY",
    "MODEL_FILE",
    "NO_BF16_ENV",
    "cache_dir",
    "cache_key",
    "cached_model_file",
    "cached_reference_vectors",
    "compile_options",
    "converted_model",
    "cpu_features",
    "describe_cpu",
    "load_or_build",
    "publish_dir",
    "publish_file",
    "reference_vectors",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when what an entry holds changes
NO_BF16_ENV = "LCELKIT_CPU_NO_BF16"
MODEL_FILE = "model.xml"  # an entry's OpenVINO model (weights beside it)
#: Compile options for one request at a time whose results must be PyTorch fp32's: f32
#: kernels (int8 weights dequantized), activations never quantized (ingest's dynamic
#: quantization is for throughput), one stream.
F32_LATENCY = {
    "INFERENCE_PRECISION_HINT": "f32",
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0",
    "PERFORMANCE_HINT": "LATENCY",
    "NUM_STREAMS": "1",
}
_META_FILE = "entry.json"


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_features() -> dict[str, bool]:
    """``{"bf16", "amx", "vnni", "avx512"}``: what the CPU can do, from ``/proc/cpuinfo``.

    bf16: AVX512-BF16 or AMX-BF16; amx: AMX tiles; vnni: AVX512-VNNI or AVX-VNNI (int8
    dot products). With ``LCELKIT_CPU_NO_BF16=1`` bf16 and amx read False (module
    docstring). All False where ``/proc/cpuinfo`` is missing.
    """
    flags = _cpu_flags()
    hide = os.environ.get(NO_BF16_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    return {
        "bf16": not hide and bool({"avx512_bf16", "amx_bf16"} & flags),
        "amx": not hide and "amx_tile" in flags,
        "vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
        "avx512": "avx512f" in flags,
    }


def describe_cpu() -> str:
    """One line for benchmark output: the features and whether bf16 is hidden."""
    features = cpu_features()
    text = " ".join(f"{k}={'yes' if v else 'no'}" for k, v in features.items())
    if os.environ.get(NO_BF16_ENV) and {"avx512_bf16", "amx_bf16"} & _cpu_flags():
        text += f" (bf16 hidden by {NO_BF16_ENV}: the CPU has it)"
    return text


def cache_dir() -> Path:
    """``$LCELKIT_OPENVINO_CACHE``, else ``$XDG_CACHE_HOME/lcelkit/openvino``, else
    ``~/.cache/lcelkit/openvino``."""
    explicit = os.environ.get("LCELKIT_OPENVINO_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "lcelkit" / "openvino"


def _folder_fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        stat = path.stat()
        files.append((rel.as_posix(), stat.st_size, stat.st_mtime_ns))
    return files


def cache_key(
    location: str | Path, variant: str, inputs: list[str], versions: dict[str, str]
) -> str:
    """The entry's name for the model folder ``location`` (its files' names, sizes and
    modification times), the ``variant`` (``fp32``/``int8``), the model's input names and
    the ``versions`` of the packages that built it (OpenVINO, NNCF)."""
    folder = Path(location)
    payload = {
        "format": CACHE_FORMAT,
        "folder": str(folder.resolve()),
        "files": _folder_fingerprint(folder) if folder.is_dir() else str(location),
        "variant": variant,
        "inputs": inputs,
        "versions": versions,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]
    return f"{folder.name or 'model'}-{variant}-{digest}"


def _read_entry(entry: Path, core: Any) -> Any:
    meta = json.loads((entry / _META_FILE).read_text(encoding="utf-8"))
    if meta.get("format") != CACHE_FORMAT:
        raise ValueError(f"entry format {meta.get('format')!r}, expected {CACHE_FORMAT}")
    return core.read_model(str(entry / MODEL_FILE))


@contextmanager
def publish_dir(entry: Path, marker: str) -> Iterator[Path]:
    """A temporary folder beside ``entry`` to fill; when the block ends and the folder
    holds ``marker`` (written last), it is renamed to ``entry``, so a reader never sees
    half an entry. Another process's entry that holds ``marker`` is as good as ours; the
    temporary folder is removed in every case."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        yield work
        if (work / marker).is_file():
            try:
                os.rename(work, entry)
            except OSError:  # another process made it first
                if not (entry / marker).is_file():
                    raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def publish_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename, so that
    a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_or_build(
    key: str,
    build: Callable[[], Any],
    *,
    core: Any,
    root: Path | None = None,
    source: dict[str, Any] | None = None,
) -> tuple[Any, bool]:
    """``(openvino.Model, from_cache)``: the cached model ``key``, else ``build()`` saved
    and read back (so that this process compiles what later ones read, and OpenVINO's
    compiled-model cache, keyed by the model, serves them). ``source``: the
    :func:`cache_key` arguments the key was made of, kept in the entry so that
    ``lcelkit cache`` can tell when the model folder is gone or changed.

    A missing entry is built and saved (temporary folder, then rename); an unreadable one
    is rebuilt with a warning. A cache folder that cannot be written only costs the next
    process the conversion again (warning).
    """
    import openvino as ov

    root = root or cache_dir()
    entry = root / key
    if entry.exists():
        try:
            return _read_entry(entry, core), True
        except Exception as exc:
            logger.warning("OpenVINO cache entry %s is unreadable (%s); rebuilding it", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
    model = build()
    try:
        with publish_dir(entry, _META_FILE) as work:
            ov.save_model(model, str(work / MODEL_FILE), compress_to_fp16=False)
            meta = {"format": CACHE_FORMAT, "key": key, "openvino": ov.get_version()}
            if source:
                meta["source"] = source
            (work / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    except OSError as exc:
        logger.warning("could not save the converted embedder in %s: %s", root, exc)
        return model, False
    try:  # the saved model, as later processes read it: OpenVINO's compiled-model cache
        return _read_entry(entry, core), False  # then serves them too (its key is the model)
    except Exception as exc:
        logger.warning("OpenVINO cache entry %s is unreadable (%s)", entry, exc)
        return model, False


def compile_options(precision: str, *, cached: bool = False) -> dict[str, str]:
    """OpenVINO CPU options for ``precision`` (``bf16``, ``int8`` or ``fp32``);
    ``cached``: OpenVINO keeps the compiled model under ``compiled/`` in :func:`cache_dir`
    (its own ``CACHE_DIR`` model cache, keyed by OpenVINO from the model, the options, the
    device and its version), so that a later process imports it instead of compiling
    (e5 int8: ~0.2 s instead of ~0.4 s on the project's machine).

    int8: the weights are int8 in the model; on a CPU with VNNI,
    ``DYNAMIC_QUANTIZATION_GROUP_SIZE`` 32 makes the CPU plugin quantize the activations
    per group of 32 on the fly, so that the matrix products run on int8 (VNNI) kernels:
    1.8x the passages/s of f32 activations with int8 weights on this project's machine
    (DESIGN.md, "Embedder"). Without VNNI (not measured) the activations stay f32 ("0").
    """
    options = {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
    }
    if precision == "int8":
        options["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = "32" if cpu_features()["vnni"] else "0"
    if cached:
        compiled = cache_dir() / "compiled"
        try:
            compiled.mkdir(parents=True, exist_ok=True)
            if os.access(compiled, os.W_OK):
                options["CACHE_DIR"] = str(compiled)
        except OSError:  # no cache: OpenVINO compiles as before
            logger.info("OpenVINO model cache %s unavailable", compiled)
    return options


def _versions(int8: bool) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import openvino as ov

    found = {"openvino": ov.get_version()}
    if int8:
        try:
            found["nncf"] = version("nncf")
        except PackageNotFoundError:
            found["nncf"] = "missing"
    return found


def converted_model(
    model: Any, location: str, names: list[str], features: dict[str, Any], *, int8: bool, core: Any
) -> Any:
    """The OpenVINO model of sentence-transformers ``model``'s transformer (inputs
    ``names``, traced on ``features``), int8 weights when ``int8``: from the cache, else
    converted (and compressed) now and cached."""

    def build() -> Any:
        import warnings

        import openvino as ov
        import torch

        wrapped = _last_hidden_state_module(model[0].model, names)
        example = tuple(features[k] for k in names)
        shapes = [ov.PartialShape([-1, -1])] * len(names)
        with torch.no_grad(), warnings.catch_warnings(), _quiet_transformers():
            warnings.simplefilter("ignore")  # tracer warnings about shapes: expected
            converted = ov.convert_model(input=shapes, **_traced(wrapped, example))
        if int8:
            import nncf

            nncf_logger = logging.getLogger("nncf")
            level = nncf_logger.level
            nncf_logger.setLevel(logging.WARNING)  # its statistics table is noise here
            try:
                converted = nncf.compress_weights(
                    converted, mode=nncf.CompressWeightsMode.INT8_ASYM
                )
            finally:
                nncf_logger.setLevel(level)
        return converted

    variant, versions = "int8" if int8 else "fp32", _versions(int8)
    key = cache_key(location, variant, names, versions)
    source = {"location": str(location), "variant": variant, "inputs": names, "versions": versions}
    converted, cached = load_or_build(key, build, core=core, source=source)
    logger.info("OpenVINO embedder model %s (%s)", key, "cached" if cached else "converted")
    return converted


def cached_model_file(location: str, names: list[str], *, int8: bool) -> Path | None:
    """The saved model file of :func:`converted_model`'s entry for the model folder
    ``location`` (inputs ``names``), None while there is no complete entry. Compiling from
    the file lets OpenVINO's compiled-model cache key the blob by the file, not by hashing
    the whole model in memory (e5 int8: 0.18 s instead of 0.51 s on the project's machine)."""
    entry = cache_dir() / cache_key(location, "int8" if int8 else "fp32", names, _versions(int8))
    if (entry / _META_FILE).is_file() and (entry / MODEL_FILE).is_file():
        return entry / MODEL_FILE
    return None


def _traced(module: Any, example: tuple[Any, ...]) -> dict[str, Any]:
    """What ``ov.convert_model`` converts: OpenVINO's own TorchScript decoder of ``module``
    traced on ``example``, without ``torch.jit.trace``'s check run (a second pass of the
    model compared against the first, ~0.3 s of e5's conversion; the converted model gives
    bit-identical outputs). ``module`` and ``example`` (OpenVINO then traces with the
    check) when the decoder cannot be built this way."""
    try:
        from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

        decoder = TorchScriptPythonDecoder(
            module, example_input=example, trace_kwargs={"check_trace": False}
        )
        return {"input_model": decoder}
    except Exception as exc:  # another OpenVINO: its public path
        logger.debug("OpenVINO's TorchScript decoder not built directly (%s)", exc)
        return {"input_model": module, "example_input": example}


def _last_hidden_state_module(model: Any, names: list[str]) -> Any:
    """A torch module with positional inputs ``names`` returning the last hidden state."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *tensors: Any) -> Any:
            kwargs = dict(zip(names, tensors, strict=True))
            return self.inner(**kwargs, return_dict=True).last_hidden_state

    return LastHiddenState()


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' own logger (tracing prints config notices) for a moment."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def _reference_path(location: str, probes: list[str]) -> Path:
    from importlib.metadata import version

    versions = {p: version(p) for p in ("torch", "transformers", "sentence-transformers")}
    return cache_dir() / f"{cache_key(location, 'reference', probes, versions)}.npy"


def cached_reference_vectors(location: str, probes: list[str]) -> Any:
    """The vectors :func:`reference_vectors` saved for ``probes``, None when there are
    none (or they are unreadable: a warning)."""
    import numpy as np

    path = _reference_path(location, probes)
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.ndim == 2 and vectors.shape[0] == len(probes):
            return vectors
        logger.warning("reference vectors %s have the wrong shape; recomputing them", path)
    except FileNotFoundError:
        pass
    except Exception as exc:
        logger.warning("reference vectors %s are unreadable (%s); recomputing them", path, exc)
    return None


def reference_vectors(location: str, probes: list[str], compute: Callable[[], Any]) -> Any:
    """PyTorch fp32's vectors for ``probes`` (``compute()``), kept on disk next to the
    converted models: the probe check compares OpenVINO's vectors with them in every
    process, and PyTorch's first forward pass alone took ~1.4 s on a loaded 2-core
    machine. Keyed by the model folder, the probes and the torch, transformers and
    sentence-transformers versions; an unreadable file is recomputed."""
    import io

    import numpy as np

    vectors = cached_reference_vectors(location, probes)
    if vectors is not None:
        return vectors
    vectors = np.asarray(compute(), dtype=np.float32)
    path = _reference_path(location, probes)
    try:
        buffer = io.BytesIO()
        np.save(buffer, vectors, allow_pickle=False)
        publish_file(path, buffer.getvalue())
    except OSError as exc:
        logger.warning("could not save reference vectors in %s: %s", path.parent, exc)
    return vectors
