"""Suite-wide: pretrained models are cached in a temporary directory, never in the user's ~/.cache/edgefed."""
from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    # os.environ, not monkeypatch: subprocesses the tests start inherit it too
    os.environ["EDGEFED_CACHE_DIR"] = tempfile.mkdtemp(prefix="edgefed-test-cache-")
