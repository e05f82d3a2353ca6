"""The embedder's OpenVINO backend: conversion, the probe check, the forward passes.

Split out of ``chains/embeddings.py`` (:class:`OpenVINOEmbedderMixin` is part of
``SentenceTransformerEmbeddings``). The transformer runs on OpenVINO in the fastest
precision that keeps four probe texts within :data:`BF16_MIN_COSINE` of PyTorch fp32
(DESIGN.md, "Embedder" and "Without bf16"); the converted model and the reference
vectors come from the on-disk cache (``chains.openvino_cache``), and a later process
runs the recorded plain pipeline without sentence-transformers
(``chains.openvino_pipeline``).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lcelkit.errors import EmbeddingsError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from lcelkit.chains.openvino_pipeline import OpenVINOPipeline

__all__ = ["BF16_MIN_COSINE", "OPENVINO_BATCH_SIZE", "OPENVINO_PAD_TO", "OpenVINOEmbedderMixin"]

logger = logging.getLogger("lcelkit.chains.embeddings")  # one logger for the embedder

_PROBES = [
    "The quarterly revenue grew by 12 percent compared to last year.",
    "표 3은 지역별 매출을 보여 줍니다.",
    "| Region | Q1 | Q2 |\n|---|---|---|\n| North | 10 | 12 |",
    "How do I reset my password?",
]
OPENVINO_BATCH_SIZE = 8  # per OpenVINO request, two in flight (fastest of 4/8/12/16/24 here)
# OpenVINO compiles and caches kernels for every input shape it meets: unpadded, the
# ingest's resident memory kept growing (1.17 GB peak after 6.4k chunks, 2.2 GB after
# 22k); padded to multiples of 16 it stays flat (0.99 GB) for ~3% more compute.
OPENVINO_PAD_TO = 16
BF16_MIN_COSINE = 0.99  # bf16 is used only when it keeps every probe within 1e-2 cosine.


class OpenVINOEmbedderMixin:
    """The OpenVINO half of ``SentenceTransformerEmbeddings`` (its attributes: the
    requested dtype, the model's location and name, the compiled model and queue)."""

    requested_dtype: str
    location: str
    name: str
    document_prompt: str
    backend: str | None
    dtype: str | None
    batch_size: int
    _batch_size: int | None
    _compiled: Any
    _ov_queue: Any
    _ov_inputs: list[str]
    _ov_lock: Any
    _pipeline: OpenVINOPipeline | None

    def _first_precision(self, bf16: bool) -> str:
        """The precision :meth:`_openvino` tries first."""
        if bf16:
            return "bf16"
        int8 = self.requested_dtype in ("auto", "int8") and importlib.util.find_spec("nncf")
        return "int8" if int8 else "fp32"

    def _cached_pipeline(self, bf16: bool) -> bool:
        """Run the cached OpenVINO pipeline (``chains.openvino_pipeline``) in the precision
        :meth:`_openvino` would try first, when an earlier process recorded it and its
        vectors pass the probe check; False (nothing changed) otherwise."""
        import numpy as np

        from .openvino_pipeline import load_cached_pipeline

        precision = self._first_precision(bf16)
        found = load_cached_pipeline(
            self.location, precision, pad_to=OPENVINO_PAD_TO, probes=_PROBES
        )
        if found is None:
            return False
        pipeline, compiled, ref = found
        try:
            import openvino as ov

            self._compiled, self._ov_inputs = compiled, pipeline.names
            self._ov_queue = ov.AsyncInferQueue(compiled)
            low = np.asarray(self._run(list(_PROBES), pipeline=pipeline, force_queue=True))
            cosine = float(np.min(np.sum(ref * low, axis=1)))
        except Exception as exc:
            logger.info("cached OpenVINO pipeline failed (%s); loading in full", exc)
            cosine = -1.0
        if cosine < BF16_MIN_COSINE:
            logger.info("cached OpenVINO pipeline off the probes (%.4f); loading in full", cosine)
            self._compiled = self._ov_queue = None
            return False
        self._pipeline = pipeline
        self.backend, self.dtype = "openvino", precision
        if self._batch_size is None:
            self.batch_size = OPENVINO_BATCH_SIZE
        return True

    def _openvino(self, model: SentenceTransformer, bf16: bool) -> bool:
        """OpenVINO in the fastest precision that passes the probe check: bf16 where the
        CPU has it (or it is asked for); else int8 weights (``dtype`` auto or int8, NNCF
        installed), else fp32. See DESIGN.md, "Embedder"."""
        first = self._first_precision(bf16)
        if first != "fp32" and self._try_openvino(model, precision=first):
            return True
        return first != "bf16" and self._try_openvino(model, precision="fp32")

    def _try_openvino(self, model: SentenceTransformer, *, precision: str) -> bool:
        """Run the transformer with OpenVINO; keep it only if its vectors agree with fp32.

        ``precision``: ``bf16`` (fp32 weights, bf16 kernels), ``int8`` (int8 weights from
        NNCF, activations quantized on the fly by OpenVINO) or ``fp32``. The converted
        model comes from the on-disk cache (``chains.openvino_cache``) when an earlier
        process made it; the probe check runs every time. The PyTorch module stays
        usable (``embedder.model.encode``, ``.save``).
        """
        import numpy as np

        try:
            import openvino as ov

            from .openvino_cache import (
                cached_model_file,
                compile_options,
                converted_model,
                reference_vectors,
            )

            features = model.preprocess(_PROBES)
            names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features]
            if len(model) < 2 or names[:2] != ["input_ids", "attention_mask"]:
                raise EmbeddingsError(f"{self.name}: not a plain text transformer model")
            core = ov.Core()
            int8 = precision == "int8"
            converted = converted_model(model, self.location, names, features, int8=int8, core=core)
            # compiled from the saved file where there is one: OpenVINO's compiled-model cache
            # then keys the blob by the file (as the cached pipeline compiles it), not by
            # hashing the model in memory
            model_file = cached_model_file(self.location, names, int8=int8)
            compiled = core.compile_model(
                str(model_file) if model_file else converted,
                "CPU",
                compile_options(precision, cached=True),
            )
            ref = reference_vectors(
                self.location,
                _PROBES,
                lambda: model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True),
            )
            self._compiled, self._ov_inputs = compiled, names
            self._ov_queue = ov.AsyncInferQueue(compiled)
            low = np.asarray(self._run(list(_PROBES), model=model, force_queue=True))
            cosine = float(np.min(np.sum(ref * low, axis=1)))
        except Exception as exc:  # conversion or kernels unsupported: PyTorch it is
            logger.warning(
                "OpenVINO embedding backend unavailable (%s: %s); using PyTorch", precision, exc
            )
            self._compiled = self._ov_queue = None
            return False
        if cosine < BF16_MIN_COSINE:
            logger.warning(
                "OpenVINO %s vectors drift from fp32 (min cosine %.4f); not using them",
                precision,
                cosine,
            )
            self._compiled = self._ov_queue = None
            return False
        self.backend, self.dtype = "openvino", precision
        if self._batch_size is None:
            self.batch_size = OPENVINO_BATCH_SIZE
        if model_file is not None and self._record_pipeline(model, precision, names, model_file):
            self._use_pipeline(names)
        return True

    def _use_pipeline(self, names: list[str]) -> None:
        """From now on compute the vectors through the recorded pipeline (checked against
        this process's sentence-transformers path: the same token ids, the same vectors),
        as a later process would: it tokenizes many texts at once and batches them by
        their length in tokens (:meth:`_run`). Left as it is on any failure."""
        try:
            from .openvino_pipeline import OpenVINOPipeline

            self._pipeline = OpenVINOPipeline.of(self.location, names, pad_to=OPENVINO_PAD_TO)
        except Exception as exc:  # an optimisation only
            logger.info("recorded pipeline of %s not used (%s)", self.location, exc)

    def _record_pipeline(
        self, model: SentenceTransformer, precision: str, names: list[str], model_file: Path
    ) -> bool:
        """Once per model, precision and package versions: check the cached pipeline
        against this path and record it, so that later processes skip sentence-transformers
        (``chains.openvino_pipeline``). True when it is recorded (now or before)."""
        from .openvino_pipeline import pipeline_marker, record_pipeline

        try:
            if pipeline_marker(self.location, precision, names).is_file():
                return True
        except Exception as exc:  # an optimisation only
            logger.info("no cached pipeline record for %s (%s)", self.location, exc)
            return False

        def st_features(texts: list[str]) -> dict[str, Any]:
            features = _pad_length(model.preprocess(texts))
            return {k: features[k].numpy() for k in names}

        def encode(texts: list[str], pipeline: OpenVINOPipeline) -> tuple[Any, Any]:
            """One forward pass, pooled by sentence-transformers and by ``pipeline``."""
            import numpy as np
            import torch

            request = self._compiled.create_infer_request()
            theirs, ours = [], []
            for start in range(0, len(texts), self.batch_size):
                features = _pad_length(model.preprocess(texts[start : start + self.batch_size]))
                arrays = {k: features[k].numpy() for k in names}
                hidden = np.array(request.infer([arrays[k] for k in names])[0], copy=True)
                ours.append(pipeline.pool(arrays, hidden))
                features["token_embeddings"] = torch.from_numpy(hidden)
                with torch.no_grad():
                    for module in list(model)[1:]:
                        features = module(features)
                embedded = features["sentence_embedding"].float()
                theirs.append(torch.nn.functional.normalize(embedded, dim=-1).numpy())
            return np.concatenate(theirs), np.concatenate(ours)

        recorded = record_pipeline(
            self.location, precision, names, model_file, st_features, encode,
            pad_to=OPENVINO_PAD_TO, document_prompt=self.document_prompt,
        )  # fmt: skip
        logger.info("cached OpenVINO pipeline of %s recorded: %s", self.name, recorded)
        return recorded

    def _run(
        self,
        texts: list[str],
        *,
        model: SentenceTransformer | None = None,
        pipeline: OpenVINOPipeline | None = None,
        force_queue: bool = False,
    ) -> list[list[float]]:
        """The OpenVINO forward pass with the tokenization and pooling around it: the
        cached ``pipeline``'s (NumPy), else sentence-transformers' own ``model``'s; longest
        texts first so that each batch pads little (in tokens with the pipeline, else in
        characters as ``encode`` does).

        One batch (a query) runs on its own infer request, so that queries never wait for
        an ingest. More go through one long-lived asynchronous queue (a request per stream,
        one stream per core; the next batch is tokenized while the previous ones run), held
        by one caller at a time: creating requests per call costs memory churn, measured by
        bench/ingest.py.
        """
        import numpy as np

        # Many texts through the cached pipeline: tokenized once, grouped by their length
        # in tokens (by characters, each batch padded ~20% past its real tokens on the
        # benchmark corpus, where short table rows, Korean and English prose mix; by
        # tokens ~9%). Otherwise by characters, as sentence-transformers' encode does.
        tokens = pipeline.tokenize(texts) if pipeline is not None and len(texts) > 1 else None
        if tokens is not None:
            lengths = [len(ids) for ids in tokens["input_ids"]]
            order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        else:
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[s : s + self.batch_size] for s in range(0, len(texts), self.batch_size)]
        out: list[Any] = [None] * len(texts)
        failures: list[BaseException] = []

        def prepare(batch: list[int]) -> tuple[dict[str, Any], list[Any]]:
            if pipeline is not None:
                if tokens is not None:
                    features = pipeline.batch(tokens, batch)
                else:
                    features = pipeline.features([texts[i] for i in batch])
                return features, [features[k] for k in self._ov_inputs]
            assert model is not None
            features = _pad_length(model.preprocess([texts[i] for i in batch]))
            return features, [features[k].numpy() for k in self._ov_inputs]

        def pool(index: int, features: dict[str, Any], hidden: Any) -> None:
            if pipeline is not None:
                vectors = pipeline.pool(features, hidden)
            else:
                import torch

                assert model is not None
                features["token_embeddings"] = torch.from_numpy(np.array(hidden, copy=True))
                with torch.no_grad():
                    for module in list(model)[1:]:
                        features = module(features)
                embedded = features["sentence_embedding"].float()
                vectors = torch.nn.functional.normalize(embedded, dim=-1).numpy()
            for i, vector in zip(batches[index], vectors, strict=True):
                out[i] = vector

        if len(batches) == 1 and not force_queue:
            request = self._compiled.create_infer_request()  # one per call: thread-safe
            features, inputs = prepare(batches[0])
            result = request.infer(inputs)
            pool(0, features, result[0])
        else:
            prepared: dict[int, dict[str, Any]] = {}

            def done(request: Any, index: int) -> None:
                try:
                    pool(index, prepared.pop(index), request.get_output_tensor(0).data)
                except BaseException as exc:  # raised below, after wait_all
                    failures.append(exc)

            with self._ov_lock:
                queue = self._ov_queue
                queue.set_callback(done)
                for index, batch in enumerate(batches):
                    features, inputs = prepare(batch)
                    prepared[index] = features
                    queue.start_async(inputs, index)
                queue.wait_all()
        if failures:
            raise failures[0]
        return np.stack(out).astype("float32").tolist()


def _pad_length(features: dict[str, Any], multiple: int = OPENVINO_PAD_TO) -> dict[str, Any]:
    """Pad the token tensors of one batch to a length that is a multiple of ``multiple``
    (masked out, so the vectors do not change)."""
    import torch

    extra = -features["input_ids"].shape[1] % multiple
    if extra:
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            if key in features:
                features[key] = torch.nn.functional.pad(features[key], (0, extra))
    return features
