"""BEIR loading and the retrieval metrics, against hand-computed values."""

from __future__ import annotations

import json
import math

import pytest

from lcelkit.chains.eval import evaluate_run, load_beir, mrr_at_k, ndcg_at_k, recall_at_k
from lcelkit.errors import LoaderError


def test_ndcg_linear_gain_hand_computed():
    rels = {"d2": 2, "d4": 1, "d9": 0}
    # d2 at rank 1 (gain 2), d4 missing: DCG = 2; IDCG = 2 + 1/log2(3).
    assert ndcg_at_k(["d2", "d5"], rels) == pytest.approx(2 / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["d5", "d2", "d4"], rels) == pytest.approx(
        (2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3))
    )
    assert ndcg_at_k(["d2", "d4"], rels) == pytest.approx(1.0)
    assert ndcg_at_k(["x"], {"d1": 0}) == 0.0


def test_recall_and_mrr_with_cutoff():
    rels = {"a": 1, "b": 1}
    ranked = [f"x{i}" for i in range(9)] + ["a", "b"]
    assert recall_at_k(ranked, rels, k=10) == 0.5
    assert mrr_at_k(ranked, rels, k=10) == pytest.approx(0.1)
    assert mrr_at_k(ranked, rels, k=9) == 0.0
    assert recall_at_k(["b", "a"], rels) == 1.0


def test_evaluate_run_means_over_queries_with_relevant_docs():
    qrels = {"q1": {"d5": 1}, "q2": {"d2": 2, "d4": 1}, "q3": {"d1": 1}, "q4": {"d1": 0}}
    run = {"q1": ["d1", "d5"], "q2": ["d2", "d5"], "q3": ["d3"]}
    got = evaluate_run(run, qrels)
    assert got["queries"] == 3  # q4 has no relevant document
    ndcg = (1 / math.log2(3) + 2 / (2 + 1 / math.log2(3)) + 0) / 3
    assert got["ndcg@10"] == pytest.approx(ndcg)
    assert got["recall@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert got["mrr@10"] == pytest.approx((0.5 + 1 + 0) / 3)


def write_beir(root, corpus, queries, qrels, split="test"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps(r) for r in corpus) + "\n", encoding="utf-8"
    )
    (root / "queries.jsonl").write_text(
        "\n".join(json.dumps(r) for r in queries) + "\n", encoding="utf-8"
    )
    (root / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (root / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_load_beir(tmp_path):
    write_beir(
        tmp_path / "mini",
        [{"_id": "d1", "title": "T", "text": "body"}, {"_id": "d2", "text": "other"}],
        [{"_id": "q1", "text": "question"}],
        [("q1", "d1", 2), ("q1", "d2", 0)],
    )
    data = load_beir(tmp_path / "mini")
    assert data.name == "mini"
    assert data.corpus == {"d1": ("T", "body"), "d2": ("", "other")}
    assert data.queries == {"q1": "question"}
    assert data.qrels == {"q1": {"d1": 2, "d2": 0}}


def test_load_beir_errors_name_the_file(tmp_path):
    with pytest.raises(LoaderError, match=r"corpus\.jsonl"):
        load_beir(tmp_path)
    write_beir(tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "q", "text": "y"}], [])
    with pytest.raises(LoaderError, match=r"dev\.tsv") as err:
        load_beir(tmp_path / "b", split="dev")
    assert "test" in err.value.hint
    (tmp_path / "b" / "corpus.jsonl").write_text('{"_id": "d1"}\nnot json\n', encoding="utf-8")
    with pytest.raises(LoaderError, match="line 2"):
        load_beir(tmp_path / "b")
