"""The app with the Runs and Experiments pages in its navigation, for AppTest.

Until app.py lists them, the tests run a copy of app.py in a temporary folder (beside a link to
pages/) with their two st.Page lines added; once app.py has them, the real app.py is used."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE_LINES = {
    "pages/runs.py": '    st.Page("pages/runs.py", title="Runs", icon="🗂️", url_path="runs"),\n',
    "pages/experiments.py": '    st.Page("pages/experiments.py", title="Experiments", icon="🧪", url_path="experiments"),\n',
}


def app_file(tmp: Path) -> str:
    src = (ROOT / "app.py").read_text()
    missing = "".join(line for page, line in PAGE_LINES.items() if page not in src)
    if not missing:
        return str(ROOT / "app.py")
    head, sep, tail = src.partition("]\n")
    (tmp / "app.py").write_text(head + missing + sep + tail)
    if not (tmp / "pages").exists():
        (tmp / "pages").symlink_to(ROOT / "pages")
    return str(tmp / "app.py")
