"""Every `>>>` example in src/rlwhf runs and holds (one test per module that has examples), so the
examples in docstrings stay true as the code changes. Modules without examples are listed too: a
module that cannot even be imported fails here."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES = sorted(".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
                 for p in (SRC / "rlwhf").rglob("*.py") if p.name != "__main__.py")


def test_the_modules_are_found():
    assert "rlwhf.data.schema" in MODULES and "rlwhf.reward.rubric" in MODULES and len(MODULES) > 40


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch, tmp_path):
    monkeypatch.delenv("RLWHF_REWARD_ARTIFACT", raising=False)
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (output above)"
