"""`lcelkit eval retrieval` on a tiny BEIR folder: metrics equal hand-computed values."""

from __future__ import annotations

import json
import math

import pytest

from lcelkit.cli import main
from tests.unit.test_retrieval_metrics import write_beir

pytestmark = pytest.mark.integration

CORPUS = [
    {"_id": "d1", "title": "Orchard", "text": "alpha apple orchard harvest"},
    {"_id": "d2", "title": "", "text": "banana plantation workers"},
    {"_id": "d3", "title": "", "text": "grape vineyard in autumn"},
    {"_id": "d4", "title": "", "text": "date palm oasis"},
    {"_id": "d5", "title": "", "text": "alpha banana smoothie recipe"},
]
QUERIES = [
    {"_id": "q1", "text": "alpha apple"},
    {"_id": "q2", "text": "banana plantation"},
    {"_id": "q3", "text": "vineyard"},
    {"_id": "q4", "text": "unjudged query"},
]
QRELS = [("q1", "d5", 1), ("q2", "d2", 2), ("q2", "d4", 1), ("q3", "d1", 1)]


@pytest.fixture
def beir(tmp_path, lcelkit_home):
    folder = tmp_path / "tiny fruit"
    write_beir(folder, CORPUS, QUERIES, QRELS)
    return folder


def test_eval_retrieval_bm25_matches_hand_computed_metrics(beir, capsys):
    # BM25 ranks (only chunks sharing a term match): q1 -> d1, d5; q2 -> d2, d5; q3 -> d3.
    assert main(["eval", "retrieval", str(beir), "--search", "bm25", "--json"]) == 0
    captured = capsys.readouterr()
    got = json.loads(captured.out)
    assert "5 documents indexed, 0 reused" in captured.err
    assert "beir-tiny-fruit" in captured.err
    ndcg_q1 = 1 / math.log2(3)  # the relevant d5 at rank 2
    ndcg_q2 = 2 / (2 + 1 / math.log2(3))  # d2 (gain 2) at rank 1, d4 missing
    assert got["queries"] == 3
    assert got["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2 + 0) / 3)
    assert got["recall@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert got["mrr@10"] == pytest.approx((0.5 + 1 + 0) / 3)


def test_eval_retrieval_second_run_reuses_the_collection(beir, capsys):
    assert main(["eval", "retrieval", str(beir), "--search", "similarity", "-k", "5"]) == 0
    first = capsys.readouterr()
    assert "5 documents indexed" in first.err
    for label in ("nDCG@10", "Recall@10", "MRR@10"):
        assert label in first.out
    assert main(["eval", "retrieval", str(beir), "--search", "hybrid", "--json"]) == 0
    second = capsys.readouterr()
    assert "0 documents indexed, 5 reused" in second.err
    got = json.loads(second.out)
    assert set(got) == {"ndcg@10", "recall@10", "mrr@10", "queries"}
    assert all(0.0 <= got[m] <= 1.0 for m in ("ndcg@10", "recall@10", "mrr@10"))
    # Every query retrieves the whole 5-document corpus, so recall is complete.
    assert got["recall@10"] == pytest.approx(1.0)


def test_eval_retrieval_missing_split_is_a_clear_error(beir, capsys):
    assert main(["eval", "retrieval", str(beir), "--split", "dev"]) == 2
    err = capsys.readouterr().err
    assert "dev.tsv" in err and "test" in err
