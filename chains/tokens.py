"""Token counting for prompt budgets: exact where the backend has a tokenizer, safe otherwise.

- :func:`hf_counter`: the backend's own Hugging Face tokenizer (exact).
- :func:`tiktoken_counter`: a ``tiktoken`` encoding times ``1 + margin``. ``tiktoken``
  downloads its encoding files at first use; offline that fails, and this returns None
  instead of breaking the run (the attempt is made once per process, with a timeout).
- :func:`estimate_counter`: a conservative estimate that needs nothing. Hangul and other
  CJK characters count :data:`CJK_TOKENS_PER_CHAR` (2.5) tokens each, because small- and
  mid-vocabulary tokenizers split them into jamo or UTF-8 bytes (measured: MiniLM's
  WordPiece gives 2.2-2.6 tokens per Hangul syllable, a byte-level BPE trained on little
  Korean about 2, SentencePiece byte fallback up to 3; large-vocabulary tokenizers such
  as Llama 3's or Qwen's give 1-1.5, so this overcounts them, which only costs room).
  Other text counts one token per 3 characters or per word piece (runs of letters cut
  every 4 characters, every digit and every symbol on its own), whichever is larger.
  The total is multiplied by ``1 + margin`` (default 10 %) and rounded up.

:func:`make_counter` picks one for a provider: Hugging Face -> the tokenizer; Ollama ->
tiktoken ``cl100k_base`` with a :data:`OLLAMA_TIKTOKEN_MARGIN` (20 %) margin when its
file is available (Ollama's models use their own tokenizers, close to but not the same
as cl100k), else the estimate. :func:`count_messages` adds the per-message overhead of
chat templates (role and separator tokens).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lcelkit.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = [
    "CJK_TOKENS_PER_CHAR",
    "DEFAULT_MARGIN",
    "MESSAGE_OVERHEAD",
    "OLLAMA_TIKTOKEN_MARGIN",
    "REPLY_PRIMING",
    "TEMPLATE_SAFETY",
    "EstimateCounter",
    "HFTokenCounter",
    "TiktokenCounter",
    "TokenCounter",
    "count_messages",
    "estimate_counter",
    "hf_counter",
    "make_counter",
    "tiktoken_counter",
]

logger = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.1
OLLAMA_TIKTOKEN_MARGIN = 0.2
CJK_TOKENS_PER_CHAR = 2.5
CHARS_PER_TOKEN = 3.0
WORD_PIECE_CHARS = 4
MESSAGE_OVERHEAD = 4  # role + start/end markers of one chat-template turn
REPLY_PRIMING = 3  # the assistant header the template appends before the reply
TIKTOKEN_LOAD_TIMEOUT = 10.0

_CJK = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f]"
)
_LETTERS = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d")
_SYMBOLS = re.compile(r"[^\w\s]|_")


@runtime_checkable
class TokenCounter(Protocol):
    """Counts the tokens of a text for one backend."""

    def __call__(self, text: str) -> int:
        """Number of tokens ``text`` takes (never fewer than the backend would use)."""
        ...


class HFTokenCounter:
    """Exact counts with a Hugging Face tokenizer (no special tokens added).

    Its chat template's cost (per message, before the first message, and for the reply
    header) is measured from the template itself, once, the first time a chat prompt
    is counted; :func:`count_messages` uses it instead of the generic constants.
    """

    exact = True

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.name = f"hf:{getattr(tokenizer, 'name_or_path', type(tokenizer).__name__)}"
        self._template: tuple[int, int, int] | None = None

    @property
    def template_overhead(self) -> tuple[int, int, int]:
        """``(per_message, reply_priming, prompt_overhead)`` tokens of the chat template."""
        if self._template is None:
            self._template = _measure_template(self.tokenizer, self) or (
                TEMPLATE_FALLBACK_MESSAGE,
                TEMPLATE_FALLBACK_PRIMING,
                0,
            )
        return self._template

    @property
    def message_overhead(self) -> int:
        """Template tokens around one message (role, start/end markers), with a margin."""
        return self.template_overhead[0]

    @property
    def reply_priming(self) -> int:
        """Template tokens of the assistant header a reply starts with."""
        return self.template_overhead[1]

    @property
    def prompt_overhead(self) -> int:
        """Template tokens before the first message (BOS, preambles such as a date)."""
        return self.template_overhead[2]

    def __call__(self, text: str) -> int:
        """Tokens of ``text`` as the model sees it."""
        if not text:
            return 0
        tok = self.tokenizer
        if hasattr(tok, "add_special_tokens") and hasattr(tok, "model_max_length"):
            # transformers tokenizer; verbose=False: no "longer than max length" warning.
            return len(tok.encode(text, add_special_tokens=False, verbose=False))
        encoded = tok.encode(text)  # a bare ``tokenizers.Tokenizer``
        return len(getattr(encoded, "ids", encoded))

    def __repr__(self) -> str:
        return f"HFTokenCounter({self.name!r})"


class TiktokenCounter:
    """A tiktoken encoding's count times ``1 + margin``, rounded up."""

    exact = False

    def __init__(self, encoding: Any, margin: float) -> None:
        self.encoding = encoding
        self.margin = margin
        self.name = f"tiktoken:{getattr(encoding, 'name', 'custom')}+{margin:.0%}"

    def __call__(self, text: str) -> int:
        """Tokens of ``text`` in the encoding, plus the margin."""
        if not text:
            return 0
        count = len(self.encoding.encode(text, disallowed_special=()))
        return math.ceil(count * (1.0 + self.margin))

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.name!r})"


class EstimateCounter:
    """Conservative estimate without a tokenizer (see the module docstring)."""

    exact = False

    def __init__(self, margin: float, cjk_tokens_per_char: float) -> None:
        self.margin = margin
        self.cjk_tokens_per_char = cjk_tokens_per_char
        self.name = f"estimate+{margin:.0%}"

    def __call__(self, text: str) -> int:
        """Estimated tokens of ``text``, never fewer than common tokenizers use."""
        if not text:
            return 0
        cjk = len(_CJK.findall(text))
        rest = _CJK.sub(" ", text) if cjk else text
        pieces = (
            sum(math.ceil(len(run) / WORD_PIECE_CHARS) for run in _LETTERS.findall(rest))
            + len(_DIGITS.findall(rest))
            + len(_SYMBOLS.findall(rest))
        )
        by_chars = len(rest.strip()) / CHARS_PER_TOKEN if rest.strip() else 0.0
        raw = cjk * self.cjk_tokens_per_char + max(by_chars, float(pieces))
        return math.ceil(raw * (1.0 + self.margin))

    def __repr__(self) -> str:
        return f"EstimateCounter(margin={self.margin}, cjk={self.cjk_tokens_per_char})"


TEMPLATE_SAFETY = 2  # per message: role names and whitespace differ slightly between roles
TEMPLATE_FALLBACK_MESSAGE = 16  # when the template cannot be rendered for measuring
TEMPLATE_FALLBACK_PRIMING = 8


def _measure_template(tokenizer: Any, count: TokenCounter) -> tuple[int, int, int] | None:
    """Measure a chat template's overhead by rendering tiny conversations with it."""
    if not getattr(tokenizer, "chat_template", None) or not hasattr(
        tokenizer, "apply_chat_template"
    ):
        return None

    def n(messages: list[dict[str, str]], generation: bool = False) -> int:
        ids = tokenizer.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=generation
        )
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    text = "x"
    user, assistant = {"role": "user", "content": text}, {"role": "assistant", "content": text}
    try:
        one = n([user])
        three = n([user, assistant, user])
        per_message = math.ceil((three - one - 2 * count(text)) / 2)
        try:
            system_cost = n([{"role": "system", "content": text}, user]) - one - count(text)
        except Exception:  # templates that refuse a system role
            system_cost = per_message
        per_message = max(per_message, system_cost, 0)
        priming = max(0, n([user], True) - one)
        prompt = max(0, one - count(text) - per_message)
    except Exception as exc:
        logger.info("could not measure the chat template of %s: %s", tokenizer, exc)
        return None
    return per_message + TEMPLATE_SAFETY, priming, prompt


def hf_counter(tokenizer: Any) -> TokenCounter:
    """Exact counter from the backend's own tokenizer (transformers or ``tokenizers``)."""
    return HFTokenCounter(tokenizer)


@lru_cache(maxsize=8)
def _load_encoding(encoding: str, timeout: float) -> Any | None:
    box: dict[str, Any] = {}

    def load() -> None:
        try:
            import tiktoken

            box["encoding"] = tiktoken.get_encoding(encoding)
        except BaseException as exc:  # offline: requests' ConnectionError, or anything else
            box["error"] = exc

    thread = threading.Thread(target=load, name="tiktoken-load", daemon=True)
    thread.start()
    thread.join(timeout)
    if "encoding" in box:
        return box["encoding"]
    reason = box.get("error") or f"no answer within {timeout:.0f} s"
    logger.info("tiktoken encoding %s is not available (%s); estimating tokens", encoding, reason)
    return None


def tiktoken_counter(
    encoding: str = "cl100k_base", margin: float = DEFAULT_MARGIN
) -> TokenCounter | None:
    """A tiktoken counter with a safety margin, or None when the encoding cannot be
    loaded (tiktoken downloads it at first use, which fails offline). Never raises."""
    try:
        enc = _load_encoding(encoding, TIKTOKEN_LOAD_TIMEOUT)
    except Exception as exc:  # pragma: no cover - _load_encoding already catches
        logger.info("tiktoken failed: %s", exc)
        return None
    return TiktokenCounter(enc, margin) if enc is not None else None


def estimate_counter(
    margin: float = DEFAULT_MARGIN, *, cjk_tokens_per_char: float = CJK_TOKENS_PER_CHAR
) -> TokenCounter:
    """The conservative estimate; it does not undercount Korean (see module docstring)."""
    return EstimateCounter(margin, cjk_tokens_per_char)


def make_counter(provider: str, *, tokenizer: Any = None) -> TokenCounter:
    """The counter for a backend: its tokenizer when given (always for Hugging Face);
    for Ollama, tiktoken ``cl100k_base`` + 20 % when available offline, else the estimate."""
    if tokenizer is not None:
        return hf_counter(tokenizer)
    if provider == "huggingface":
        raise ConfigError(
            "counting tokens for a Hugging Face model needs its tokenizer",
            hint="pass tokenizer=llm.tokenizer (the chat model from make_chat_model has one)",
        )
    if provider == "ollama":
        counter = tiktoken_counter("cl100k_base", margin=OLLAMA_TIKTOKEN_MARGIN)
        return counter if counter is not None else estimate_counter()
    raise ConfigError(f"unknown LLM provider {provider!r}", hint="use 'ollama' or 'huggingface'")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "\n".join(parts)


def count_messages(counter: TokenCounter, messages: Sequence[BaseMessage]) -> int:
    """Tokens a chat prompt takes: every message's text, the per-message template
    overhead (role and markers), its tool calls (name + JSON arguments), the reply
    header and anything the template puts before the first message.

    The overheads are the counter's own where it knows them (an HF tokenizer's chat
    template, measured), else :data:`MESSAGE_OVERHEAD` and :data:`REPLY_PRIMING`."""
    if not messages:
        return 0
    per_message = getattr(counter, "message_overhead", MESSAGE_OVERHEAD)
    total = getattr(counter, "reply_priming", REPLY_PRIMING)
    total += getattr(counter, "prompt_overhead", 0)
    for message in messages:
        total += per_message + counter(_content_text(message.content))
        for call in getattr(message, "tool_calls", None) or []:
            args = json.dumps(call.get("args", {}), ensure_ascii=False)
            total += per_message + counter(f"{call.get('name', '')} {args}")
    return total
