"""The embedded default policy, built once per test session into a shared cache (its SFT takes ~2-3 min
on 2 cores); the seed-workflow tests point RLWHF_CACHE_DIR here, so `rlwhf launch` and the standby runner
take it from the cache as they would on a user's machine after the first run. $RLWHF_TEST_CACHE_DIR names
an existing cache to reuse across sessions (the policy is then copied from it in seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def embedded_policy_cache(tmp_path_factory) -> Path:
    cache = Path(os.environ.get("RLWHF_TEST_CACHE_DIR") or tmp_path_factory.mktemp("rlwhf_cache"))
    env = {**os.environ, "RLWHF_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    build = tmp_path_factory.mktemp("embedded_policy") / "policy"
    # exactly what `rlwhf launch` runs for its policy stage (LaunchConfig's seed): same cache key
    from rlwhf.launch import LaunchConfig

    done = subprocess.run([sys.executable, "-m", "rlwhf", "model", "tiny", "--output", str(build),
                           "--seed", str(LaunchConfig().seed)], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return cache
