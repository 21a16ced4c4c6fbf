"""The code's habits, checked with every test run: ruff (pyflakes, import order, bugbear; ruff.toml)
and the layer rules of .importlinter (core never imports Streamlit or ui; core.nn never imports
the services above it; the run service knows no classes; the sweep modules import one way)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else shutil.which(name) or name


def tracked_python_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 and out.stdout else ["."]


def test_ruff_finds_nothing():
    done = subprocess.run([tool("ruff"), "check", "--quiet", *tracked_python_files()], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_layer_rules_hold():
    done = subprocess.run([tool("lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "0 broken" in done.stdout, done.stdout[-3000:] + done.stderr
