"""The snippets of the guides (`test_docs.GUIDES`), run as `test_docs` runs the others: a file of
their own, so that `--dist loadfile` gives them to a second worker."""

from __future__ import annotations

import pytest

from tests.test_docs import blocks, check_python_snippet, check_shell_snippet, ids

pytestmark = pytest.mark.slow

PYTHON, SHELL = blocks("python", guides=True), blocks("sh", guides=True)


def test_the_guides_have_snippets():
    assert len(PYTHON) >= 5 and SHELL


@pytest.mark.parametrize(("page", "line", "code"), PYTHON, ids=ids(PYTHON))
def test_python_snippet_runs(page, line, code, tmp_path):
    check_python_snippet(page, line, code, tmp_path)


@pytest.mark.parametrize(("page", "line", "code"), SHELL, ids=ids(SHELL))
def test_shell_snippet_runs(page, line, code, tmp_path):
    check_shell_snippet(page, line, code, tmp_path)
