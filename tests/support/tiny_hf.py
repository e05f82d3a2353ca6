"""A tiny local Hugging Face causal LM for tests (no hub, a few seconds, under 1 MB).

``build_tiny_model(out_dir)`` writes a random-weight GPT-2 (2 layers, n_embd 64,
n_head 2, n_positions 1024) and a byte-level BPE tokenizer trained here, with
``tokenizers``, on a small built-in English + Korean corpus (so any text encodes),
wrapped as ``PreTrainedTokenizerFast`` with eos/pad tokens and a ChatML chat
template. Both are saved with ``save_pretrained`` into ``out_dir``. Everything is
seeded: the same folder contents on every build.

The special tokens' embedding rows are zero, so their logits are 0 while the random
vocabulary's largest logit is far above it: greedy (and low-temperature) generation
never ends early and always runs to ``max_new_tokens``, which makes token-limit and
streaming tests deterministic. The text it generates is gibberish by design.

Command line (CI and the notebooks use it)::

    python -m tests.support.tiny_hf OUT_DIR
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["CHATML_TEMPLATE", "CORPUS", "SPECIAL_TOKENS", "build_tiny_model", "main"]

logger = logging.getLogger(__name__)

SEED = 1234
VOCAB_SIZE = 1000
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS: tuple[str, ...] = (
    "The quarterly revenue grew by 12 percent compared to last year.",
    "Table 3 shows the revenue by region: North, South, East and West.",
    "How do I reset my password? Open the settings page and choose security.",
    "The agent searches the documents, reads the results and writes an answer.",
    "Retrieval augmented generation combines a retriever with a language model.",
    "Please cite the source document and the page number for every claim.",
    "Thought: I should search the documents. Action: search_documents",
    "Observation: the report says the budget is 4.2 million dollars.",
    "Final Answer: the budget is 4.2 million dollars according to the report.",
    "Question: what is the context window of the model? Answer: 2048 tokens.",
    "| Region | Q1 | Q2 |\n|---|---|---|\n| North | 10 | 12 |\n| South | 7 | 9 |",
    "The quick brown fox jumps over the lazy dog. 0123456789 !?.,;:()[]{}",
    "표 3은 지역별 매출을 보여 줍니다.",
    "올해 매출은 작년보다 12퍼센트 증가했습니다.",
    "비밀번호를 재설정하려면 설정 페이지에서 보안을 선택하세요.",
    "에이전트는 문서를 검색하고 결과를 읽은 뒤 답변을 작성합니다.",
    "검색 증강 생성은 검색기와 언어 모델을 결합합니다.",
    "모든 주장에 대해 출처 문서와 쪽 번호를 인용하세요.",
    "한국어와 영어가 섞인 문서도 처리할 수 있습니다. Korean and English text.",
    "보고서에 따르면 예산은 420만 달러입니다.",
    "질문: 모델의 컨텍스트 창은 얼마입니까? 답변: 2048 토큰입니다.",
    "안녕하세요. 만나서 반갑습니다. 오늘 날씨가 좋네요.",
)


def _train_tokenizer() -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Repeat the corpus so that merges are frequent enough to be learned.
    tok.train_from_iterator(list(CORPUS) * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(out_dir: Path) -> Path:
    """Build the tiny GPT-2 + tokenizer into ``out_dir`` (created); returns the folder."""
    import torch
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer()
    torch.manual_seed(SEED)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=64,
        n_layer=2,
        n_head=2,
        initializer_range=0.2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        for token in SPECIAL_TOKENS:
            model.transformer.wte.weight[tokenizer.convert_tokens_to_ids(token)].zero_()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    logger.info("tiny HF model written to %s", out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.tiny_hf OUT_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m tests.support.tiny_hf OUT_DIR\n")
        return 2
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = build_tiny_model(Path(args[0]))
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
