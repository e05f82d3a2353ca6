"""discover(), load() error cases, sniffing and text encodings."""

from __future__ import annotations

from pathlib import Path

import pytest

from lcelkit.errors import (
    CorruptFileError,
    EmptyFileError,
    FileTooLargeError,
    LoaderError,
    UnreadableFileError,
    UnsupportedFileError,
)
from lcelkit.loaders import SUPPORTED_EXTENSIONS, discover, load
from lcelkit.loaders.files import decode_text

KOREAN = "연차 휴가는 입사 첫 해에 15일이 부여됩니다. 재택 근무는 주 2회까지 허용됩니다."


def test_supported_extensions_are_the_documented_set():
    assert (
        frozenset({".pdf", ".txt", ".md", ".markdown", ".html", ".htm", ".docx", ".csv"})
        == SUPPORTED_EXTENSIONS
    )


def test_discover_walks_folders_sorted_skips_hidden_and_unsupported(tmp_path: Path):
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a.md").write_text("a")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".secret.txt").write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.PDF").write_bytes(b"%PDF-1.4")
    explicit = tmp_path / "notes.xyz"
    explicit.write_text("x")
    missing = tmp_path / "gone.pdf"
    found = discover([tmp_path, explicit, missing, tmp_path / "a.md"])
    assert found == [
        tmp_path / "a.md",
        tmp_path / "b.txt",
        tmp_path / "sub" / "c.PDF",
        explicit,
        missing,
    ]


def test_load_text_metadata(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("Quarterly notes\n\nRevenue grew in every region this quarter.\n")
    docs = load(path)
    assert [d.metadata["category"] for d in docs] == ["Title", "NarrativeText"]
    meta = docs[1].metadata
    assert meta["source"] == str(path)
    assert meta["filename"] == "notes.txt"
    assert meta["filetype"] == "txt"
    assert "page_number" not in meta  # unknown for text: the key is omitted, never None
    assert len(meta["element_id"]) == 32
    for doc in docs:
        assert all(isinstance(v, (str, int, float, bool)) for v in doc.metadata.values())
    # ids are stable across loads; the source argument overrides the path
    assert [d.metadata["element_id"] for d in load(path)] == [
        d.metadata["element_id"] for d in docs
    ]
    assert load(path, source="kb://notes")[0].metadata["source"] == "kb://notes"


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("cp949", b""),
        ("euc-kr", b""),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
    ],
)
def test_korean_text_in_each_encoding(tmp_path: Path, encoding: str, prefix: bytes):
    path = tmp_path / "policy.txt"
    path.write_bytes(prefix + KOREAN.encode(encoding))
    docs = load(path)
    assert docs[0].page_content == KOREAN


def test_short_cp949_korean_is_not_misdetected():
    text, encoding = decode_text("휴가 정책".encode("cp949"))
    assert text == "휴가 정책"
    assert encoding == "cp949"


def test_latin1_text_falls_back_to_charset_normalizer():
    text, _ = decode_text("Crème brûlée and café au lait, très bien.".encode("latin-1"))
    assert "brûlée" in text


def test_empty_file(tmp_path: Path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert info.value.source == str(path)


def test_whitespace_only_file_is_empty(tmp_path: Path):
    path = tmp_path / "blank.md"
    path.write_text("   \n\n  \n")
    with pytest.raises(EmptyFileError):
        load(path)


def test_too_large_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.txt"
    path.write_text("x" * 5000)

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    with pytest.raises(FileTooLargeError) as info:
        load(path, max_bytes=1000)
    assert "1,000" in str(info.value)
    assert info.value.hint


def test_max_bytes_none_disables_the_limit(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 5000)
    assert load(path, max_bytes=None)


def test_unsupported_type_lists_supported(tmp_path: Path):
    path = tmp_path / "slides.pptx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFileError) as info:
        load(path)
    assert ".pptx" in str(info.value)
    assert ".pdf" in info.value.hint and ".docx" in info.value.hint


def test_missing_file(tmp_path: Path):
    with pytest.raises(UnreadableFileError, match="no such file"):
        load(tmp_path / "gone.pdf")


def test_directory(tmp_path: Path):
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(UnreadableFileError, match="directory"):
        load(folder)


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "secret.txt"
    path.write_text("hidden")
    real_open = open

    def deny(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(UnreadableFileError, match="permission denied"):
        load(path)


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("scan.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG image"),
        ("report.pdf", b"Just some text pretending to be a PDF.\n", "plain text"),
        ("letter.docx", b"%PDF-1.7\n1 0 obj\n", "PDF document"),
        ("notes.txt", b"%PDF-1.7\n1 0 obj\n<<>>\n", "PDF document"),
        ("page.html", b"\x00\x01\x02\x03binary\x00", "binary data"),
    ],
)
def test_extension_that_lies(tmp_path: Path, name: str, content: bytes, what: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorruptFileError) as info:
        load(path)
    assert what in str(info.value)
    assert name in str(info.value)


def test_every_loader_error_is_a_loader_error():
    for cls in (CorruptFileError, EmptyFileError, FileTooLargeError, UnreadableFileError):
        assert issubclass(cls, LoaderError)


def test_decomposed_hangul_is_normalized_to_nfc(tmp_path: Path):
    import unicodedata

    path = tmp_path / "nfd.md"
    decomposed = unicodedata.normalize(
        "NFD", "# 휴가 정책\n\n| 항목 | 일수 |\n|---|---|\n| 연차 | 15 |\n"
    )
    path.write_text(decomposed, encoding="utf-8")
    docs = load(path)
    assert docs[0].page_content == "휴가 정책"
    assert "| 연차 | 15 |" in docs[1].page_content
    assert "<td>연차</td>" in docs[1].metadata["text_as_html"]
