"""The first storefront import of a process freezes what the process loaded before it, once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LAYER = Path(__file__).resolve().parents[3] / "functions" / "common"
_PROBE = """
import gc, importlib, json, sys
sys.path.insert(0, sys.argv[1])
before = gc.get_freeze_count()
import storefront
first = gc.get_freeze_count()
for name in [m for m in sys.modules if m.split(".")[0] == "storefront"]:
    del sys.modules[name]  # as localfaas's in-process runtime loads a handler afresh
importlib.import_module("storefront.events")
print(json.dumps([before, first, gc.get_freeze_count()]))
"""


def test_what_was_loaded_before_the_first_import_is_frozen_and_a_reload_freezes_nothing_more():
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(LAYER)], capture_output=True, text=True, check=True
    )
    before, first, after_reload = json.loads(done.stdout)
    assert before == 0
    assert first > 0
    # Frozen objects may still be freed by their reference counts; a second freeze would have added
    # the thousands pydantic and the event models allocate.
    assert after_reload <= first
