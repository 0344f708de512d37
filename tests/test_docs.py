"""Every Python and shell snippet of README.md and docs/*.md runs (at small budgets), and prints
what the page says it prints.

Python blocks run each in a fresh process; the lines of a shell block run in order in one
temporary directory (`purejaxppo` lines through the command line's `main`, `make ...` lines as
`make -n`: their real runs are CI itself, or take minutes). Budgets are scaled down by the
replacements below, each of which must still occur in the text, so that a snippet that changes
cannot escape its test. A `print(...)` line whose comment (on it, or the line after it) reads
`# prints: TEXT` must print TEXT exactly; `# prints like: TEXT` the same text with any numbers in
place of TEXT's (for values that depend on the budget or the machine).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

# Trains, or starts processes: the whole suite (`make test`), not `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The guides' snippets run in test_docs_guides.py: under `--dist loadfile` a file is one
# worker's, and all the snippets in one file were the suite's longest path.
GUIDES = ("many-runs.md", "meta-learning.md", "multi-agent.md", "reports.md", "training.md")
SMALLER = {
    "total_timesteps=100_000": "total_timesteps=10_240",
    # Acrobot's random episodes run the full 500 steps: 2048 steps per env put an episode end
    # in the last 5% of updates, which `report` scores.
    "--total-timesteps 100000": "--total-timesteps 8192",
    "--total-timesteps 50000": "--total-timesteps 5120",
    "--total-timesteps 20000": "--total-timesteps 2048",
    "--seeds 1 8": "--seeds 1",
    "num_seeds=64": "num_seeds=4",
    "jax.random.key(0), 64)": "jax.random.key(0), 4)",
}


def blocks(language: str, guides: bool | None = None) -> list[tuple[str, int, str]]:
    """The `language` snippets of every page (None), of the guides (True) or of the others."""
    found = []
    for page in PAGES:
        if guides is not None and (page.name in GUIDES) != guides:
            continue
        text = page.read_text()
        for match in re.finditer(rf"```{language}\n(.*?)```", text, re.S):
            line = text[: match.start()].count("\n") + 1
            found.append((page.relative_to(ROOT).as_posix(), line, match.group(1)))
    return found


def smaller(code: str) -> str:
    for old, new in SMALLER.items():
        code = code.replace(old, new)
    return code


def environment() -> dict[str, str]:
    return {**os.environ, "XLA_FLAGS": "", "PYTHONPATH": str(ROOT)}


# What a snippet needs beyond the core install, and the module whose import says it is there:
# without the extra its snippet is skipped, as the suite's own tests are.
EXTRAS = {
    "xminigrid:": "xminigrid", "jumanji:": "jumanji", "craftax:": "craftax", "jaxmarl:": "jaxmarl",
    "brax:": "brax", "playground:": "mujoco_playground", "--tensorboard": "tensorboardX",
    "--wandb": "wandb", "--gif": "pygame", "purejaxppo report": "rliable", "report(": "rliable",
}  # fmt: skip


def skip_without_extras(code: str) -> None:
    for marker, module in EXTRAS.items():
        if marker in code:
            pytest.importorskip(module)


def test_every_replacement_still_occurs():
    text = "".join(page.read_text() for page in PAGES)
    assert all(old in text for old in SMALLER), [old for old in SMALLER if old not in text]


PYTHON = blocks("python")
SHELL = blocks("sh")
OWN_PYTHON, OWN_SHELL = blocks("python", guides=False), blocks("sh", guides=False)


ANNOTATED = re.compile(r"^(\s*)(print\(.*?\))\s+# prints( like)?: (.*)$")
PLAIN = re.compile(r"^(\s*)(print\(.*\))\s*$")
CLAIM = re.compile(r"^\s*# prints( like)?: (.*)$")
NUMBER = r"-?(?:nan|inf|\d[\d,]*(?:\.\d*)?(?:e[-+]?\d+)?)"


def instrumented(code: str) -> tuple[str, list[tuple[bool, str]]]:
    """`code` with each print that the page annotates between two marker lines, and the claims
    in order: (numbers may differ, the text)."""
    lines, claims, out = code.splitlines(), [], []
    for i, text in enumerate(lines):
        match, claim = ANNOTATED.match(text), None
        if match:
            claim = match.group(3, 4)
        elif (match := PLAIN.match(text)) and i + 1 < len(lines) and CLAIM.match(lines[i + 1]):
            claim = CLAIM.match(lines[i + 1]).groups()
        if claim is None:
            out.append(text)
            continue
        k, indent = len(claims), match.group(1)
        claims.append((bool(claim[0]), claim[1].strip()))
        out.append(f"{indent}print('<<{k}>>'); {match.group(2)}; print('<</{k}>>')")
    return "\n".join(out), claims


def matches(printed: str, like: bool, claim: str) -> bool:
    if not like:
        return printed == claim
    parts = re.split(NUMBER, claim)
    pattern = NUMBER.join(re.sub(r"(\\ )+", r"\\s+", re.escape(part)) for part in parts)
    return re.fullmatch(pattern, printed) is not None


def test_pages_state_what_their_snippets_print():
    claims = [c for _, _, code in PYTHON for c in instrumented(code)[1]]
    assert len(claims) >= 9 and any(like for like, _ in claims), claims
    assert matches(
        "500.00 [498.10, 500.00] (95% CI, 4 runs)", True, "1.0 [2.0, 3.0] (95% CI, 64 runs)"
    )
    assert not matches("[1 0]", False, "[0 1]") and not matches("(8, 3)", True, "(8,)")


def ids(snippets: list[tuple[str, int, str]]) -> list[str]:
    return [f"{page}:{line}" for page, line, _ in snippets]


@pytest.mark.parametrize(("page", "line", "code"), OWN_PYTHON, ids=ids(OWN_PYTHON))
def test_python_snippet_runs(page, line, code, tmp_path):
    check_python_snippet(page, line, code, tmp_path)


def check_python_snippet(page: str, line: int, code: str, tmp_path: Path) -> None:
    skip_without_extras(code)
    code, claims = instrumented(smaller(code))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environment(),
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, f"{page}:{line}\n{proc.stderr[-3000:]}"
    for k, (like, claim) in enumerate(claims):
        printed = proc.stdout.split(f"<<{k}>>\n", 1)[1].split(f"<</{k}>>", 1)[0].strip()
        assert matches(printed, like, claim), (
            f"{page}:{line}: prints {printed!r}, the page says {claim!r}"
        )


# The `purejaxppo` lines of a block run in one process, one `main()` call each (a new process
# per line would start JAX again every time).
DRIVER = """
import shlex, sys
from purejaxppo.cli import main
for line in sys.argv[1:]:
    status = main(shlex.split(line))
    if status != 0:
        sys.exit(f"{line!r} exited with {status}")
"""


@pytest.mark.parametrize(("page", "line", "code"), OWN_SHELL, ids=ids(OWN_SHELL))
def test_shell_snippet_runs(page, line, code, tmp_path):
    check_shell_snippet(page, line, code, tmp_path)


def check_shell_snippet(page: str, line: int, code: str, tmp_path: Path) -> None:
    skip_without_extras(code)
    commands = [c.split("#")[0].strip() for c in smaller(code).splitlines()]
    batch: list[str] = []

    def flush() -> None:
        if batch:
            run = subprocess.run([sys.executable, "-c", DRIVER, *batch], cwd=tmp_path,
                                 env=environment(), capture_output=True, text=True,
                                 timeout=900)  # fmt: skip
            assert run.returncode == 0, f"{page}:{line}\n{run.stderr[-3000:]}"
            batch.clear()

    for command in filter(None, commands):
        words = shlex.split(command)
        if words[0] == "make":
            flush()
            run = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True,
                                 text=True, timeout=60)  # fmt: skip
            assert run.returncode == 0, f"{page}:{line}: {command}\n{run.stderr[-3000:]}"
        elif "|" in words:  # a pipe: through the shell, as typed
            flush()
            assert words[0] == "purejaxppo", command
            shell = f"{sys.executable} -m purejaxppo.cli {command.split(' ', 1)[1]}"
            run = subprocess.run(shell, shell=True, cwd=tmp_path, env=environment(),
                                 capture_output=True, text=True, timeout=900)  # fmt: skip
            assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
        else:
            assert words[0] == "purejaxppo", command
            batch.append(shlex.join(words[1:]))
    flush()
