"""``lcelkit ask`` on a plain home imports nothing it does not use (issue 23)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_keyword_index_of_a_plain_home_does_not_import_sqlalchemy(tmp_path: Path):
    code = (
        "import sys\n"
        "from lcelkit.factories import make_keyword_index\n"
        "from lcelkit.settings import get_settings\n"
        f"index = make_keyword_index(get_settings(home={str(tmp_path)!r}))\n"
        "print(type(index).__name__, 'sqlalchemy' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["KeywordIndex", "False"]  # ~0.15 s of imports saved
