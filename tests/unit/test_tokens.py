"""Token counters: exact with a tokenizer, safe without one (Korean is never undercounted)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from lcelkit.chains import tokens
from lcelkit.chains.embeddings import load_tokenizer
from lcelkit.chains.tokens import (
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    EstimateCounter,
    TiktokenCounter,
    TokenCounter,
    count_messages,
    estimate_counter,
    hf_counter,
    make_counter,
    tiktoken_counter,
)
from lcelkit.errors import ConfigError

# Korean prose that is NOT in the tiny tokenizer's training corpus, plus one line that is.
KOREAN = [
    "대한민국의 수도는 서울이며, 인구는 약 천만 명이다. 경제 성장률은 2.5퍼센트였다.",
    "인공지능 기반 문서 검색 시스템의 성능을 평가하기 위해 다양한 실험을 수행하였다",
    "계약서 제7조에 따라 임차인은 매월 말일까지 관리비를 납부해야 합니다.",
    "표 3은 지역별 매출을 보여 줍니다.",
    "서울특별시 강남구 테헤란로 152, 강남파이낸스센터 12층 (우편번호 06236)",
    "한국어와 English가 섞인 문장: RAG 파이프라인은 BM25와 dense 검색을 결합한다.",
]
ENGLISH = [
    "The quarterly revenue grew by 12 percent compared to last year.",
    "Retrieval-augmented generation (RAG) combines BM25, dense vectors & re-ranking.",
    "| Region | Q1 | Q2 |\n|---|---|---|\n| North | 10 | 12 |",
]


@pytest.fixture(scope="module")
def minilm_counter() -> TokenCounter:
    return hf_counter(load_tokenizer())


@pytest.fixture(scope="module")
def tiny_counter(tiny_hf_model) -> TokenCounter:
    from transformers import AutoTokenizer

    return hf_counter(AutoTokenizer.from_pretrained(tiny_hf_model))


def test_hf_counter_is_exact(minilm_counter):
    tok = load_tokenizer()
    text = KOREAN[0] + " " + ENGLISH[0]
    assert minilm_counter(text) == len(tok(text, add_special_tokens=False)["input_ids"])
    assert minilm_counter("") == 0


def test_hf_counter_accepts_a_bare_tokenizers_object():
    raw = load_tokenizer().backend_tokenizer  # tokenizers.Tokenizer
    counter = hf_counter(raw)
    assert counter("hello world") == len(raw.encode("hello world").ids)


@pytest.mark.parametrize("text", KOREAN)
def test_estimate_does_not_undercount_korean_vs_minilm_wordpiece(text, minilm_counter):
    # MiniLM's WordPiece splits Hangul syllables into jamo: 2-3 tokens per syllable.
    assert estimate_counter()(text) >= minilm_counter(text)


@pytest.mark.parametrize("text", KOREAN)
def test_estimate_does_not_undercount_korean_vs_byte_level_bpe(text, tiny_counter):
    assert estimate_counter()(text) >= tiny_counter(text)


@pytest.mark.parametrize("text", ENGLISH)
def test_estimate_does_not_undercount_english_vs_minilm(text, minilm_counter):
    assert estimate_counter()(text) >= minilm_counter(text)


def test_estimate_margin_and_korean_weight():
    no_margin, margin = estimate_counter(0.0), estimate_counter(0.5)
    text = KOREAN[0]
    assert margin(text) >= 1.5 * no_margin(text) - 1
    # Ten Hangul syllables are never counted as fewer than ten tokens (unlike chars / 3).
    assert no_margin("가나다라마바사아자차") >= 10
    assert estimate_counter()("") == 0
    assert isinstance(estimate_counter(), TokenCounter)


def test_tiktoken_counter_returns_none_when_the_encoding_cannot_load(monkeypatch):
    import tiktoken

    def offline(name):
        raise ConnectionError("no route to openaipublic.blob.core.windows.net")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    tokens._load_encoding.cache_clear()
    try:
        assert tiktoken_counter("cl100k_base") is None
        # And the Ollama counter falls back to the estimate instead of failing.
        assert isinstance(make_counter("ollama"), EstimateCounter)
    finally:
        tokens._load_encoding.cache_clear()


def test_tiktoken_counter_applies_the_margin(monkeypatch):
    import tiktoken

    class FakeEncoding:
        name = "fake"

        def encode(self, text, disallowed_special=()):
            return text.split()

    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: FakeEncoding())
    tokens._load_encoding.cache_clear()
    try:
        counter = tiktoken_counter("fake", margin=0.2)
        assert isinstance(counter, TiktokenCounter)
        assert counter("one two three four five six seven eight nine ten") == 12
        assert isinstance(make_counter("ollama"), TiktokenCounter)
    finally:
        tokens._load_encoding.cache_clear()


def test_make_counter_per_provider(minilm_counter):
    tok = load_tokenizer()
    exact = make_counter("huggingface", tokenizer=tok)
    assert exact(KOREAN[1]) == minilm_counter(KOREAN[1])
    with pytest.raises(ConfigError, match="tokenizer"):
        make_counter("huggingface")
    with pytest.raises(ConfigError, match="provider"):
        make_counter("llamacpp")


def test_count_messages_adds_overhead_and_tool_calls():
    counter = estimate_counter(0.0)
    messages = [
        SystemMessage(content="Answer from the context."),
        HumanMessage(content=KOREAN[0]),
    ]
    expected = REPLY_PRIMING + sum(MESSAGE_OVERHEAD + counter(m.content) for m in messages)
    assert count_messages(counter, messages) == expected
    call = AIMessage(
        content="",
        tool_calls=[{"name": "search_documents", "args": {"query": "매출 증가율"}, "id": "c1"}],
    )
    with_call = [*messages, call, ToolMessage(content="revenue grew 12%", tool_call_id="c1")]
    assert count_messages(counter, with_call) > expected + 2 * MESSAGE_OVERHEAD
    assert count_messages(counter, []) == 0
    blocks = [HumanMessage(content=[{"type": "text", "text": "hello there"}])]
    assert count_messages(counter, blocks) == REPLY_PRIMING + MESSAGE_OVERHEAD + counter(
        "hello there"
    )
