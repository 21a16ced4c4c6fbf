"""The app's Streamlit settings (.streamlit/config.toml) reach `streamlit run app.py`."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ("runner.postScriptGC", "client.toolbarMode", "browser.gatherUsageStats",
           "client.showErrorLinks", "server.fileWatcherType", "server.showEmailPrompt")


@pytest.fixture(scope="module")
def options() -> dict[str, str]:
    """The options as Streamlit itself reads them in a fresh process started in the app's folder
    (as `streamlit run app.py` is), not as this test would parse the file."""
    code = ("from streamlit import config; config.get_config_options(force_reparse=True)\n"
            f"for name in {OPTIONS!r}: print(name, repr(config.get_option(name)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return dict(line.split(" ", 1) for line in out.strip().splitlines()[-len(OPTIONS):])


def test_no_forced_garbage_collection_after_each_script_run(options):
    """Streamlit's default gc.collect(2) after every run held the GIL ~140 ms once a second while
    the Train page polled, and cost a training thread ~15 % of its speed (bench/bench_ui.py)."""
    assert options["runner.postScriptGC"] == "False"


def test_no_developer_menu_or_deploy_button(options):
    """Viewer mode: no Deploy (a cloud sales panel), no Rerun, no Clear cache (which dropped
    every browser's runs)."""
    assert options["client.toolbarMode"] == "'viewer'"


def test_no_usage_statistics_from_an_app_that_works_offline(options):
    assert options["browser.gatherUsageStats"] == "False"


def test_no_developer_prompts_links_or_file_watching(options):
    assert options["client.showErrorLinks"] == "False"        # no "ask Google/ChatGPT" under errors
    assert options["server.fileWatcherType"] == "'none'"      # no "source file changed, rerun?" banner
    assert options["server.showEmailPrompt"] == "False"
