"""Team deployment benchmark: one Chroma server, one PostgreSQL, several workers (issue 20).

Everything runs on this machine and is started here: a ``chroma run`` server and a
throwaway PostgreSQL cluster (``initdb``/``pg_ctl``, tests/support/postgres.py).

1. **Ranking** (no embedder): the keyword index alone on SQuAD v1.1 dev (2,067
   paragraphs, 500 questions: MRR@10, hit@10) and KoBEST BoolQ (Korean, BEIR qrels:
   nDCG@10), for SQLite FTS5 ``bm25()`` (the embedded default), PostgreSQL with the
   same BM25 (``PgKeywordIndex``, the default there) and PostgreSQL ``ts_rank_cd``;
   plus the share of queries whose top 10 equals FTS5's, and query p50.
2. **Ingest**: the ``bench/ingest.py`` corpus (116 files) into the embedded default
   (``lcelkit ingest``), into the team deployment by 1 worker, and by 2 workers at
   once (two ``lcelkit ingest`` processes): seconds, speed-up.
3. **Same answers everywhere**: 200 queries (150 SQuAD questions, 50 table questions)
   answered by the hybrid retriever (k = 10) in the embedded process and in 2 team
   query processes (each builds the retriever as a ``lcelkit serve`` worker does:
   ``factories.make_retriever``); identical = same chunk ids in the same order.
   Query p50/p95 (query embedding included), embedded vs team, measured one process
   at a time. Then, chunk by chunk, where the dense side of the two can differ: the
   stored vector of every chunk id (embedded store vs the team's, bit for bit), and for
   each query the nearest 120 chunks (what hybrid asks Chroma for) in each store against
   brute-force cosine over the same vectors (a nearer chunk missed), and whether the
   two stores return other chunks or the same ones in another order (equal distances).
4. **No stale results**: 20 times, one SQuAD article rewritten with as many chunks (a
   marker word changed), ingested; then the *same, still running* query processes
   are asked for the marker: stale = a result that is not the new text.
5. **kill -9**: an ``lcelkit ingest`` worker on 12 files killed after its k-th file
   (k = 1..10), then a re-run; the store, the keyword index, the records and the
   manifest must equal one clean run's.

    python bench/scale.py [--benchdata ../shared/benchdata] [--queries 200] [--edits 20]
                          [--kill-points 10] [--only ranking|deploy|same|kill]
                          [--skip-single]

``--only same``: the embedded and the 2-worker ingest and step 3 alone (no 1-worker
ingest, no rewrites, no kills).
``--skip-single``: everything but the 1-worker ingest (so no speed-up figure).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_BENCHDATA = ROOT.parent / "shared" / "benchdata"


def _bench_module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# -- 1. ranking -----------------------------------------------------------------------------
def ranking(benchdata: Path, pg_url: str) -> None:
    from langchain_core.documents import Document

    from lcelkit.chains.eval import evaluate_run, load_beir
    from lcelkit.chains.keyword import KeywordIndex
    from lcelkit.chains.keyword_pg import PgKeywordIndex

    squad = benchdata / "qa" / "squad_v1.1_dev"
    passages = load_jsonl(squad / "passages.jsonl")
    questions = load_jsonl(squad / "questions_sample500_seed13.jsonl")
    beir = load_beir(benchdata / "qa" / "kobest_boolq")
    sets = {
        "SQuAD": (
            [Document(page_content=p["text"], metadata={"title": p["title"]}) for p in passages],
            [p["_id"] for p in passages],
        ),
        "KoBEST": (
            [Document(page_content=f"{t}\n{x}".strip()) for t, x in beir.corpus.values()],
            list(beir.corpus),
        ),
    }
    rows = []
    for name, (docs, ids) in sets.items():
        fts = KeywordIndex(None)
        fts.add_documents(docs, ids)
        pg = PgKeywordIndex(pg_url, f"ranking/{name}")
        pg.clear()
        started = time.perf_counter()
        pg.add_documents(docs, ids)
        pg_build = time.perf_counter() - started
        pg_cd = PgKeywordIndex(pg_url, f"ranking/{name}", ranking="ts_rank_cd")
        if name == "SQuAD":
            queries = [(q["question"], q) for q in questions]
        else:
            queries = [(text, qid) for qid, text in beir.queries.items() if qid in beir.qrels]
        base: list[list[str]] = []
        for label, index in (("SQLite FTS5 bm25()", fts), ("PostgreSQL BM25 (FTS5's)", pg),
                             ("PostgreSQL ts_rank_cd(…, 1)", pg_cd)):  # fmt: skip
            times, run = [], {}
            tops: list[list[str]] = []
            for text, key in queries:
                t0 = time.perf_counter()
                got = index.search(text, 10)
                times.append((time.perf_counter() - t0) * 1000)
                tops.append([d.id for d, _ in got])
                if isinstance(key, str):
                    run[key] = tops[-1]
            if not base:
                base = tops
            same = sum(a == b for a, b in zip(tops, base, strict=True)) / len(tops)
            if name == "SQuAD":
                mrr = hit = 0.0
                by_id = dict(zip(ids, docs, strict=True))
                for (_, q), top in zip(queries, tops, strict=True):
                    for rank, cid in enumerate(top, 1):
                        text = by_id[cid].page_content.lower()
                        if cid == q["passage_id"] or any(a.lower() in text for a in q["answers"]):
                            mrr += 1 / rank
                            hit += 1
                            break
                quality = f"MRR@10 {mrr / len(tops):.3f}, hit@10 {hit / len(tops):.3f}"
            else:
                m = evaluate_run(run, beir.qrels)
                quality = f"nDCG@10 {m['ndcg@10']:.3f}, MRR@10 {m['mrr@10']:.3f}"
            rows.append((name, label, len(tops), quality, same, pct(times, 0.5), pct(times, 0.95)))
        print(f"  [{name}: {len(docs)} chunks into PostgreSQL in {pg_build:.1f} s]", flush=True)
        pg.close()
        pg_cd.close()
    print("\n| set | keyword index | queries | quality | top-10 = FTS5's | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, label, n, quality, same, p50, p95 in rows:
        print(f"| {name} | {label} | {n} | {quality} | {same:.1%} | {p50:.1f} | {p95:.1f} |")
    sys.stdout.flush()


# -- 2-5. the deployment ------------------------------------------------------------------
def env_for(home: Path, *, collection: str, chroma: str = "", db: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    env |= {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LCELKIT_HOME": str(home),
        "LCELKIT_COLLECTION": collection,
        "LCELKIT_CHROMA_URL": chroma,
        "LCELKIT_DATABASE_URL": db,
        "LCELKIT_DATABASE__CLAIM_SECONDS": "5",
    }
    return env


def run_ingest(envs: list[dict[str, str]], paths: list[Path]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-m", "lcelkit.cli", "ingest", *map(str, paths)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for env in envs
    ]  # fmt: skip
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"ingest failed ({proc.returncode}): {err[-3000:]}")
        outs.append(out.strip().splitlines()[0] if out.strip() else "")
    return time.perf_counter() - started, outs


QUERY_WORKER = r"""
import json, sys, time
from lcelkit.factories import make_retriever
from lcelkit.settings import get_settings
retriever = make_retriever(get_settings(), search="hybrid", k=10)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    ask = json.loads(line)
    started = time.perf_counter()
    docs = retriever.invoke(ask["q"])
    ms = (time.perf_counter() - started) * 1000
    print(json.dumps({"ids": [d.id for d in docs], "texts": [d.page_content for d in docs],
                      "ms": ms}), flush=True)
"""


class QueryWorker:
    """A long-lived process with the configured hybrid retriever (as a serve worker)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", QUERY_WORKER], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        assert json.loads(self.proc.stdout.readline())["ready"]

    def ask(self, query: str) -> dict:
        self.proc.stdin.write(json.dumps({"q": query}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def team_state(settings: Any) -> dict:
    """Store, keyword index, records and manifest of the configured (team) collection."""
    from lcelkit.chains.keyword_pg import PgKeywordIndex
    from lcelkit.chains.store import chroma_client
    from lcelkit.factories import store_namespace
    from lcelkit.loaders.records import FileManifest, make_record_manager

    ns = store_namespace(settings)
    got = chroma_client(url=settings.store.url).get_collection(settings.store.collection).get()
    manifest = FileManifest(ns, settings.record_db_url)
    return {
        "store": sorted(zip(got["ids"], got["documents"], strict=True)),
        "keyword": sorted(PgKeywordIndex(settings.database.url, ns).ids()),
        "records": sorted(make_record_manager(ns, settings.record_db_url).list_keys()),
        "manifest": sorted((p, manifest.get(p)["digest"]) for p in manifest.paths()),
    }


def settings_for(env: dict[str, str]) -> Any:
    from lcelkit.settings import get_settings

    saved = {k: os.environ.get(k) for k in env if k.startswith("LCELKIT_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("LCELKIT_")})
    try:
        return get_settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def deploy(args: argparse.Namespace, pg_url: str, chroma_url: str, work: Path) -> None:
    ingest_mod = _bench_module("ingest")
    answers_mod = _bench_module("answers")
    corpus = ingest_mod.build_corpus(args.benchdata, work / "corpus")
    files = [p for p in corpus]
    print(f"corpus: {len(files)} files", flush=True)
    team = {"chroma": chroma_url, "db": pg_url}

    # -- 2. ingest ----------------------------------------------------------------------
    emb_env = env_for(work / "embedded", collection="default")
    t_emb, out_emb = run_ingest([emb_env], files)
    single = args.only != "same" and not args.skip_single
    if single:
        one_env = env_for(work / "w-one", collection="one", **team)
        t_one, out_one = run_ingest([one_env], files)
    two_envs = [env_for(work / f"w-{i}", collection="two", **team) for i in (1, 2)]
    t_two, out_two = run_ingest(two_envs, files)
    print("\n| ingest of the corpus | seconds | summary |\n|---|---|---|")
    print(f"| embedded default (1 process) | {t_emb:.1f} | {out_emb[0]} |")
    if single:
        print(f"| team, 1 worker | {t_one:.1f} | {out_one[0]} |")
    print(f"| team, 2 workers at once | {t_two:.1f} | {' / '.join(out_two)} |")
    if single:
        print(f"\n2-worker speed-up over 1 worker: {t_one / t_two:.2f}x", flush=True)

    # -- 3. same answers everywhere -----------------------------------------------------
    n_table = args.queries // 4
    squad = ingest_mod.load_questions(args.benchdata, args.queries - n_table)
    tables = answers_mod.table_questions(n_table)
    queries = [q["question"] for q in squad] + [q["question"] for q in tables]
    results: dict[str, list[dict]] = {}
    first: dict[str, float] = {}
    for name, env in (("embedded", emb_env), ("team worker 1", two_envs[0]),
                      ("team worker 2", two_envs[1])):  # fmt: skip
        worker = QueryWorker(env)
        first[name] = worker.ask(queries[0])["ms"]  # warm-up (reads the vectors): not counted
        results[name] = [worker.ask(q) for q in queries]
        worker.close()
    print(
        "\nfirst query of each process (not counted below; the exact search reads the "
        "collection's vectors then): " + ", ".join(f"{n} {ms:.0f} ms" for n, ms in first.items())
    )
    base = results["embedded"]
    print("\n| query process | queries | top-10 identical to embedded | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for name, got in results.items():
        same = sum(a["ids"] == b["ids"] for a, b in zip(got, base, strict=True))
        ms = [r["ms"] for r in got]
        print(f"| {name} | {len(got)} | {same}/{len(got)} ({same / len(got):.1%}) | "
              f"{pct(ms, 0.5):.1f} | {pct(ms, 0.95):.1f} |")  # fmt: skip
    w1, w2 = results["team worker 1"], results["team worker 2"]
    between = sum(a["ids"] == b["ids"] for a, b in zip(w1, w2, strict=True))
    print(f"\nteam worker 1 vs team worker 2: {between}/{len(w1)} identical")
    ratio = pct([r["ms"] for r in w1], 0.95) / pct([r["ms"] for r in base], 0.95)
    print(f"p95 team / embedded: {ratio:.2f}x (target <= 2x)", flush=True)
    diffs = [(q, a["ids"], b["ids"]) for q, a, b in zip(queries, w1, base, strict=True)
             if a["ids"] != b["ids"]]  # fmt: skip
    for q, a, b in diffs[:3]:
        first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        print(f"  differs: {q!r}: first different rank {first + 1 if first is not None else '-'}")
    explain_dense(queries, settings_for(emb_env), settings_for(two_envs[0]),
                  differing={q for q, _, _ in diffs})  # fmt: skip
    if args.only == "same":
        return

    # -- 4. stale results after same-count rewrites ---------------------------------------
    from lcelkit.factories import make_indexer

    team_settings = settings_for(two_envs[0])
    indexer = make_indexer(team_settings)
    article = sorted(p for p in files if p.suffix == ".txt")[0]
    original = article.read_text(encoding="utf-8")
    workers = [QueryWorker(env) for env in two_envs]
    stale = edits = same_count = 0
    for edit in range(1, args.edits + 1):
        marker = f"zq{edit:02d}marker"
        paragraphs = original.split("\n\n")
        paragraphs[1] = f"{marker} " + paragraphs[1]  # one word more in one paragraph
        article.write_text("\n\n".join(paragraphs), encoding="utf-8")
        before = indexer.manifest.get(os.path.abspath(article))["chunks"]
        report = indexer.ingest([article])
        after = indexer.manifest.get(os.path.abspath(article))["chunks"]
        same_count += before == after and report.chunks_written > 0
        edits += 1
        for worker in workers:
            got = worker.ask(f"{marker} {paragraphs[1][:80]}")
            texts = got["texts"]
            fresh = bool(texts) and marker in texts[0]
            old = any(f"zq{edit - 1:02d}marker" in t for t in texts) if edit > 1 else False
            stale += (not fresh) or old
    for worker in workers:
        worker.close()
    article.write_text(original, encoding="utf-8")
    indexer.ingest([article])
    indexer.claims.close()
    print(
        f"\nsame-count rewrites: {edits} edits ({same_count} kept the file's chunk count), "
        f"{len(two_envs)} query processes each: {stale} stale results (target 0)",
        flush=True,
    )

    kill_points(args, team, work, files)


def explain_dense(
    queries: list[str], embedded: Any, team: Any, n: int = 120, differing: set[str] | None = None
) -> None:
    """Where the dense side of the two deployments can differ, chunk by chunk: the stored
    vectors of each chunk id (bit for bit), and each store's HNSW nearest ``n`` (what the
    hybrid retriever asked Chroma for, fetch_k x UNIT_FANOUT, before the exact search)
    against the exact nearest ``n`` by brute-force cosine over the same vectors; then the
    exact search the retrievers use now (``chains.dense_exact``) in both stores. For each
    query in ``differing`` (top 10 not identical), says which of these it was."""
    import numpy as np

    from lcelkit.chains.dense_exact import cosine64, exact_nearest
    from lcelkit.chains.store import chroma_client
    from lcelkit.factories import make_embeddings

    clients = {
        "embedded": chroma_client(persist_dir=embedded.chroma_dir),
        "team": chroma_client(url=team.store.url),
    }
    cols = {
        "embedded": clients["embedded"].get_collection(embedded.store.collection),
        "team": clients["team"].get_collection(team.store.collection),
    }
    vectors: dict[str, dict[str, Any]] = {}
    for name, col in cols.items():
        got = col.get(include=["embeddings"])
        vectors[name] = dict(zip(got["ids"], np.asarray(got["embeddings"], "float32"), strict=True))
    a, b = vectors["embedded"], vectors["team"]
    common = sorted(set(a) & set(b))
    equal = sum(bool(np.array_equal(a[c], b[c])) for c in common)
    worst = max((float(np.abs(a[c] - b[c]).max()) for c in common), default=0.0)
    print(f"\nstored vectors: {len(a)} embedded, {len(b)} team, {len(common)} ids in both, "
          f"{equal} bit-identical, largest difference {worst:.2e}")  # fmt: skip
    embedder = make_embeddings(embedded)
    missed = dict.fromkeys(cols, 0)
    sets_differ = ties_only = 0
    missed_now = dict.fromkeys(cols, False)
    exact_same = exact_brute = exact_used = 0
    all_ids = list(vectors["embedded"])
    rows = np.stack([vectors["embedded"][c] for c in all_ids])
    wide = rows.astype("float64")
    norms = np.sqrt(np.einsum("ij,ij->i", wide, wide))
    for query in queries:
        vector = np.asarray(embedder.embed_query(query), "float32")
        # what the retrievers use below MIRROR_MAX chunks: the exact nearest n
        exact = {name: exact_nearest(clients[name], col, vector.tolist(), n, None)
                 for name, col in cols.items()}  # fmt: skip
        if all(e is not None for e in exact.values()):
            exact_used += 1
            exact_same += exact["embedded"][0] == exact["team"][0]
            cos = cosine64(rows, norms, vector.tolist())  # every chunk, no candidates
            brute = sorted(range(len(all_ids)), key=lambda i: (-cos[i], all_ids[i]))[:n]
            exact_brute += exact["embedded"][0] == [all_ids[i] for i in brute]
        got = {}
        for name, col in cols.items():
            res = col.query(query_embeddings=[vector.tolist()], n_results=n, include=["distances"])
            ids, dist = res["ids"][0], res["distances"][0]
            keys = list(vectors[name])
            sims = np.stack([vectors[name][c] for c in keys]) @ vector
            # a miss: a chunk clearly nearer than the farthest returned one, not returned
            nearer = {keys[i] for i in np.nonzero(sims > 1.0 - dist[-1] + 1e-5)[0]}
            missed_now[name] = bool(nearer - set(ids))
            missed[name] += missed_now[name]
            got[name] = ids
        a, b = got["embedded"], got["team"]
        if query in (differing or ()):
            print(f"  {query!r}: nearest {n} {'differ' if set(a) != set(b) else 'the same'} "
                  f"between the stores; a nearer chunk missed: embedded {missed_now['embedded']},"
                  f" team {missed_now['team']}")  # fmt: skip
        sets_differ += set(a) != set(b)
        ties_only += set(a) == set(b) and a != b
    print(f"dense nearest {n} of {len(queries)} queries: a nearer chunk missed in the embedded "
          f"store {missed['embedded']}, in the team store {missed['team']}; the two stores "
          f"return other chunks {sets_differ}, the same chunks in another order (equal "
          f"distances) {ties_only}", flush=True)  # fmt: skip
    print(f"exact search (chains.dense_exact, what the retrievers use here): used for "
          f"{exact_used} of {len(queries)} queries; nearest {n} identical in the two stores "
          f"{exact_same}, equal to brute force (float64 cosine of every chunk, ties by id) "
          f"{exact_brute}",
          flush=True)  # fmt: skip


def kill_points(args: argparse.Namespace, team: dict, work: Path, files: list[Path]) -> None:
    """5. kill -9 at several points, then a re-run; each must equal one clean run."""
    subset = sorted(p for p in files if p.suffix == ".txt")[:12]
    clean_env = env_for(work / "k-clean", collection="k-clean", **team)
    run_ingest([clean_env], subset)
    clean = team_state(settings_for(clean_env))
    equal = 0
    for point in range(1, args.kill_points + 1):
        env = env_for(work / f"k{point}", collection=f"killed-{point}", **team)
        env["LCELKIT_INGEST__BATCH_SIZE"] = "64"
        proc = subprocess.Popen([sys.executable, "-m", "lcelkit.cli", "ingest",
                                 *map(str, subset)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        seen = 0
        for line in proc.stderr:
            if re.search(r"\] (added|updated): ", line):
                seen += 1
                if seen >= point:
                    break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        state_killed = team_state(settings_for(env))
        rerun_s, _ = run_ingest([env], subset)
        state = team_state(settings_for(env))
        ok = state == clean
        equal += ok
        print(f"  kill after file {point}: {len(state_killed['store'])} chunks stored at the kill, "
              f"re-run {rerun_s:.1f} s, equal to a clean run: {ok}", flush=True)  # fmt: skip
    print(f"\nkill -9 then re-run: {equal}/{args.kill_points} equal to one clean run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchdata", type=Path, default=DEFAULT_BENCHDATA)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--kill-points", type=int, default=10)
    parser.add_argument("--only", choices=["ranking", "deploy", "same", "kill"])
    parser.add_argument(
        "--skip-single", action="store_true", help="no 1-worker team ingest (no speed-up figure)"
    )
    args = parser.parse_args()

    from tests.support.postgres import PostgresCluster
    from tests.support.servers import ChromaServer

    with tempfile.TemporaryDirectory(prefix="lcelkit-scale-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        with PostgresCluster() as pg:
            url = pg.new_database()
            if args.only in (None, "ranking"):
                ranking(args.benchdata, url)
            if args.only in (None, "deploy", "same", "kill"):
                with ChromaServer(work / "chroma") as chroma:
                    if args.only == "kill":
                        files = _bench_module("ingest").build_corpus(args.benchdata, work / "c")
                        kill_points(args, {"chroma": chroma.url, "db": url}, work, files)
                    else:
                        deploy(args, url, chroma.url, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
