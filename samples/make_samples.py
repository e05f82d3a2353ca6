# ruff: noqa: E501  (the Korean sample paragraphs are kept one line each)
"""Regenerate the bundled sample documents: ``python samples/make_samples.py``.

Writes report.pdf (headings, a ruled and an unruled table with captions),
hr_policy_ko.txt (Korean, CP949), handbook.md (English, GFM table), faq.html and
travel_policy.docx into this folder. The PDF comes from the tiny raw PDF writer in
tests/support/make_docs.py, so the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support.make_docs import report_pdf, write_docx  # noqa: E402

KOREAN_POLICY = """\
휴가 및 근무 정책

본 정책은 에이스 분석 주식회사의 모든 정규직 직원에게 적용됩니다. 연차 휴가는 입사 첫 해에 15일이 부여되며, 근속 2년마다 1일씩 추가됩니다. 사용하지 않은 연차는 다음 해 3월 31일까지 이월할 수 있습니다.

재택 근무는 주 2회까지 허용됩니다. 재택 근무를 원하는 직원은 전날 오후 5시까지 팀장에게 알려야 합니다. 고객 미팅이 있는 날에는 사무실 출근을 원칙으로 합니다.

출장 경비는 영수증을 첨부하여 출장 종료 후 10일 이내에 청구해야 합니다. 해외 출장의 일비는 하루 8만 원이며, 숙박비는 실비로 정산합니다.

교육 지원

모든 직원은 연간 200만 원 한도 내에서 외부 교육비를 지원받을 수 있습니다. 교육 이수 후에는 수료증을 인사팀에 제출해야 합니다.
"""

HANDBOOK_MD = """\
# Employee Handbook

Welcome to Acme Analytics. This handbook explains how we work.

## Working hours

Core hours are **10:00 to 16:00**. Outside core hours you may plan your own time.

- Remote work: up to two days a week
- Overtime must be approved by your manager
- Public holidays follow the office's country

## Support levels

Table 3: Support response times by plan

| Plan | First response | Resolution target |
|---|---|---|
| Basic | 24 hours | 5 business days |
| Pro | 4 hours | 2 business days |
| Enterprise | 1 hour | 8 hours |

```bash
lcelkit ask "What is the first response time of the Pro plan?"
```
"""

FAQ_HTML = """\
<!doctype html>
<html><head><title>Acme FAQ</title><style>body { font-family: sans-serif; }</style>
<script>console.log("not indexed");</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/faq">FAQ</a></nav>
<h1>Frequently asked questions</h1>
<h2>Security</h2>
<p>All customer data is encrypted at rest with AES-256 and in transit with TLS 1.3.</p>
<ul><li>Backups run every night.</li><li>Backups are kept for 35 days.</li></ul>
<h2>Data centers</h2>
<table>
<caption>Table 5: Data center locations</caption>
<tr><th>Region</th><th>City</th><th>Opened</th></tr>
<tr><td>Europe</td><td>Frankfurt</td><td>2019</td></tr>
<tr><td>Asia</td><td>Seoul</td><td>2021</td></tr>
</table>
</body></html>
"""


def main() -> None:
    """Write all samples next to this script."""
    report_pdf(HERE / "report.pdf")
    (HERE / "hr_policy_ko.txt").write_bytes(KOREAN_POLICY.encode("cp949"))
    (HERE / "handbook.md").write_text(HANDBOOK_MD, encoding="utf-8")
    (HERE / "faq.html").write_text(FAQ_HTML, encoding="utf-8")
    write_docx(HERE / "travel_policy.docx")


if __name__ == "__main__":
    main()
