"""Hostile files: bombs and floods refused with their setting named, damage and guessed
encodings reported as warnings, unreadable folders and over-long paths listed as failures,
a file that outlasts its time budget stopped and skipped, names printed escaped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.documents import Document

from lcelkit.cli.ingest import shown
from lcelkit.errors import (
    CorruptFileError,
    EmbedderMismatchError,
    FileTimeoutError,
    FileTooLargeError,
    UnreadableFileError,
)
from lcelkit.loaders.files import check_limits, discover, load
from lcelkit.loaders.index import FileManifest, Indexer, Parsed, make_record_manager
from lcelkit.loaders.isolate import IsolatedRunner
from tests.support.hostile import damaged_pdf, docx_bomb, many_element_docx
from tests.support.make_docs import multipage_table_pdf, write_docx


# -- bounded parsing ------------------------------------------------------------------------
def test_docx_bomb_is_refused_from_its_directory_naming_the_setting(tmp_path: Path):
    bomb = docx_bomb(tmp_path / "bomb.docx", unpacked_mb=300)
    assert bomb.stat().st_size < 2 * 2**20  # small on disk: the file-size limit lets it in
    with pytest.raises(FileTooLargeError) as info:
        load(bomb)  # default limit: 256 MiB unpacked
    assert (
        "unpack to" in info.value.message and "LCELKIT_INGEST__MAX_UNPACKED_MB" in info.value.hint
    )
    with pytest.raises(FileTooLargeError):  # what ingest runs before starting a parse
        check_limits(bomb)
    check_limits(write_docx(tmp_path / "fine.docx"))


def test_docx_element_flood_is_refused(tmp_path: Path):
    flood = many_element_docx(tmp_path / "flood.docx", elements=50_000)
    with pytest.raises(FileTooLargeError) as info:
        load(flood, max_elements=20_000)  # all XML parts count: a new document has ~9,000
    assert "elements" in info.value.message and "LCELKIT_INGEST__MAX_ELEMENTS" in info.value.hint
    assert load(write_docx(tmp_path / "fine.docx"), max_elements=20_000)  # a normal one passes


def test_html_element_flood_is_refused_before_parsing(tmp_path: Path):
    page = tmp_path / "flood.html"
    page.write_text("<html><body>" + "<div>x</div>" * 5000 + "</body></html>")
    with pytest.raises(FileTooLargeError, match="elements"):
        load(page, max_elements=2000)
    assert load(page, max_elements=10_000)


def test_file_size_hint_names_the_real_setting(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    with pytest.raises(FileTooLargeError) as info:
        load(path, max_bytes=100)
    assert "LCELKIT_INGEST__MAX_FILE_MB" in info.value.hint and "max_bytes" not in info.value.hint


def _sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def _fails() -> None:
    raise CorruptFileError("x.pdf", "x.pdf: broken", hint="re-export it")


def test_a_call_past_its_budget_is_stopped_and_the_next_one_runs():
    runner = IsolatedRunner()
    try:
        started = time.monotonic()
        assert runner.call(_sleepy, 0, source="warm", timeout=120) == "done"  # worker start-up
        started = time.monotonic()
        with pytest.raises(FileTimeoutError) as info:
            runner.call(_sleepy, 60, source="slow.pdf", timeout=1)
        assert time.monotonic() - started < 30  # stopped, not waited for
        assert (
            "slow.pdf" in info.value.message and "LCELKIT_INGEST__FILE_TIMEOUT" in info.value.hint
        )
        with pytest.raises(CorruptFileError) as failed:  # errors come back as themselves
            runner.call(_fails, source="x.pdf", timeout=120)
        assert failed.value.source == "x.pdf" and failed.value.hint == "re-export it"
        assert runner.call(_sleepy, 0, source="next", timeout=120) == "done"
    finally:
        runner.close()


def _run_script(tmp_path: Path, code: str, timeout: float) -> str:
    """Run ``code`` as a script file in a fresh interpreter; its stdout (it must exit 0)."""
    script = tmp_path / "script.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie nobody reaped has stopped all the same


def test_a_script_without_a_main_guard_can_use_the_worker(tmp_path: Path):
    out = _run_script(  # spawn-based multiprocessing would re-run this file
        tmp_path,
        "import os\n"
        "from lcelkit.loaders.isolate import IsolatedRunner\n"
        "runner = IsolatedRunner()\n"
        "print(runner.call(os.getpid, source='x', timeout=120) != os.getpid())\n"
        "runner.close()\n",
        timeout=300,
    )
    assert out.strip() == "True"


def test_exit_does_not_wait_for_a_parse_in_flight(tmp_path: Path):
    # Ctrl-C or an error mid-ingest while the parse-ahead thread waits on the worker: the
    # process must end now (the timeout), not after the file's parse budget (900 s).
    out = _run_script(
        tmp_path,
        "import threading, time\n"
        "from lcelkit.loaders.isolate import shared_runner\n"
        "runner = shared_runner()\n"
        "runner.call(time.sleep, 0, source='warm', timeout=120)\n"
        "threading.Thread(target=runner.call, args=(time.sleep, 600),\n"
        "                 kwargs={'source': 'slow.pdf', 'timeout': 900}, daemon=True).start()\n"
        "time.sleep(1)\n"
        "print(runner._process.pid, flush=True)\n",
        timeout=120,
    )
    worker = int(out.split()[-1])
    for _ in range(50):  # the worker is killed, not left parsing
        if not _running(worker):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"parse worker {worker} still running after its parent exited")


def test_the_worker_imports_the_installed_package_not_a_folder_in_the_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Run from a source checkout (its top-level lcelkit/ folder holds settings and the CLI,
    # not the loaders), a plain `pip install .` must still parse: the worker process must
    # not put the working directory ahead of the installed package.
    shadow = tmp_path / "lcelkit"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the folder in the working dir')\n")
    monkeypatch.chdir(tmp_path)
    runner = IsolatedRunner()
    try:
        assert runner.call(_sleepy, 0, source="x", timeout=120) == "done"
    finally:
        runner.close()


# -- say what happened ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "expected"),
    [("no_eof", "%%EOF"), ("bad_xref", "startxref"), ("missing_page", "page 3")],
)
def test_damaged_pdf_is_indexed_with_a_warning_or_refused(tmp_path: Path, kind, expected):
    path = damaged_pdf(tmp_path / f"{kind}.pdf", kind)
    warnings: list[str] = []
    try:
        docs = load(path, warnings=warnings)
    except CorruptFileError:
        return  # refused: also an honest outcome
    assert docs
    assert any(expected in w for w in warnings), warnings


def test_whole_pdf_has_no_warning(tmp_path: Path):
    warnings: list[str] = []
    assert load(multipage_table_pdf(tmp_path / "whole.pdf"), warnings=warnings)
    assert warnings == []


def test_undecodable_text_is_indexed_with_a_warning(tmp_path: Path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"Hello world \xff\xfe\xc3(")
    warnings: list[str] = []
    assert load(path, warnings=warnings)
    assert len(warnings) == 1 and "not valid UTF-8" in warnings[0]
    utf8 = tmp_path / "good.txt"
    utf8.write_text("Grüße, 서울", encoding="utf-8")
    clean: list[str] = []
    assert load(utf8, warnings=clean) and clean == []


def test_unreadable_folder_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "docs" / "locked").mkdir(parents=True)
    (tmp_path / "docs" / "ok.txt").write_text("fine")
    (tmp_path / "docs" / "locked" / "secret.txt").write_text("hidden")
    locked = str(tmp_path / "docs" / "locked")
    if os.geteuid() == 0:  # root reads everything: make the OS refuse as it would a user
        real = os.scandir

        def scandir(path: object = ".") -> object:
            if os.fspath(path) == locked:
                raise PermissionError(13, "Permission denied", locked)
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        os.chmod(locked, 0)
    try:
        failures: list[UnreadableFileError] = []
        files = discover([tmp_path / "docs"], failures=failures)
    finally:
        os.chmod(locked, 0o755)
    assert [f.name for f in files] == ["ok.txt"]
    assert [f.source for f in failures] == [locked]
    assert "cannot read the folder" in failures[0].message


def test_file_under_a_folder_without_search_permission_does_not_abort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    target = tmp_path / "locked" / "a.txt"
    target.parent.mkdir()
    target.write_text("x")
    real_stat = os.stat

    def stat(path: object, *args: object, **kwargs: object) -> object:
        if os.fspath(path) == str(target):
            raise PermissionError(13, "Permission denied", str(target))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    assert discover([target, tmp_path / "missing.txt"]) == [target, tmp_path / "missing.txt"]


def test_path_over_the_system_limit_is_a_failure(tmp_path: Path):
    root = tmp_path / "deep"
    root.mkdir()
    (root / "top.txt").write_text("top")
    cwd = os.getcwd()
    depth = 0
    try:
        os.chdir(root)
        while len(str(root)) + depth * 201 < 4300:  # past PATH_MAX (4096)
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
            depth += 1
        Path("lost.txt").write_text("too deep")
    finally:
        os.chdir(cwd)
    failures: list[UnreadableFileError] = []
    files = discover([root], failures=failures)
    assert [f.name for f in files] == ["top.txt"]
    assert failures and "too long" in failures[0].message


def test_names_are_printed_escaped():
    assert shown("evil\nFAILED x.txt") == "evil\\nFAILED x.txt"
    assert shown("red\x1b[31m.txt") == "red\\x1b[31m.txt"
    assert shown("rtl\u202egnp.txt") == "rtl\\u202egnp.txt"
    assert shown("서울 보고서.txt") == "서울 보고서.txt"  # ordinary text untouched


# -- the indexer ----------------------------------------------------------------------------
def _indexer(tmp_path: Path, parse) -> Indexer:
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.vectorstores import InMemoryVectorStore

    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    return Indexer(
        InMemoryVectorStore(DeterministicFakeEmbedding(size=8)),
        make_record_manager("test", db),
        FileManifest("test", db),
        parse,
    )


def _parse(path: Path, source: str) -> Parsed:
    warnings: list[str] = []
    docs = load(path, source=source, warnings=warnings)
    for i, doc in enumerate(docs):
        doc.metadata["chunk_id"] = f"{source}#{i}"
    return Parsed(
        [Document(page_content=d.page_content, metadata=d.metadata) for d in docs], warnings
    )


@pytest.mark.integration  # a real Chroma
def test_ingest_refuses_the_bomb_and_indexes_the_file_beside_it(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    docx_bomb(docs / "a_bomb.docx", unpacked_mb=300)
    (docs / "b_notes.txt").write_text("The neighbour file is indexed.")
    (docs / "c_bad.txt").write_bytes(b"Hello world \xff\xfe\xc3(")
    report = _indexer(tmp_path, _parse).ingest([docs])
    assert [s for s, _ in report.failed] == [str(docs / "a_bomb.docx")]
    assert report.added == [str(docs / "b_notes.txt"), str(docs / "c_bad.txt")]
    summary = report.to_json()
    assert summary["warnings"] == [
        {
            "source": str(docs / "c_bad.txt"),
            "warnings": [report.warnings[str(docs / "c_bad.txt")][0]],
        }
    ]
    assert "not valid UTF-8" in summary["warnings"][0]["warnings"][0]


@pytest.mark.integration  # a real Chroma
def test_chroma_dimension_mismatch_says_to_fix_the_embedder(tmp_path: Path):
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from lcelkit.chains.retrievers import DenseRetriever

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    built = Chroma(
        client=client, collection_name="docs", embedding_function=DeterministicFakeEmbedding(size=4)
    )
    built.add_texts(["some text"], ids=["a"])
    asked = DenseRetriever(store=built, embeddings=DeterministicFakeEmbedding(size=8))
    with pytest.raises(EmbedderMismatchError) as info:
        asked.invoke("question")
    assert "--filter" not in str(info.value)
    assert "LCELKIT_EMBEDDINGS_MODEL" in info.value.hint and "--rebuild" in info.value.hint
