"""The app's Streamlit settings (.streamlit/config.toml) reach `streamlit run app.py`."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_forced_garbage_collection_after_each_script_run():
    """Streamlit's default gc.collect(2) after every run held the GIL ~140 ms once a second while
    the Train page polled, and cost a training thread ~15 % of its speed (bench/bench_ui.py)."""
    code = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('runner.postScriptGC'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
