"""The README's "Teaching with it" screenshots (assets/screenshots/class_*.png), from a real class.

    python scripts/class_screenshots.py

Makes a class in a fresh data folder (a teacher, eight students), starts the initialization
lesson, trains each student's run with its own σ (through the run service, as their Train pages
would), opens a challenge and submits the runs; then starts `streamlit run app.py` on that folder
and photographs, with Chromium, the teacher's table, the class chart, the leaderboard in the
projector view, a student's locked Train page and the join page. Needs the class pages in app.py.
"""
from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["MNIST_PLAYGROUND_HOME"] = tempfile.mkdtemp(prefix="class-screenshots-")

from playwright.sync_api import sync_playwright  # noqa: E402

from core.classroom.challenge import Challenges  # noqa: E402
from core.classroom.classes import Classroom, make_lesson  # noqa: E402
from core.classroom.rules import ClassRules  # noqa: E402
from core.ledger import Ledger  # noqa: E402
from core.runs import RunService  # noqa: E402
from scripts.app_server import launch_chromium, running_app  # noqa: E402
from ui.shared import OWNER_COOKIE  # noqa: E402

OUT = ROOT / "assets" / "screenshots"
LESSON = dict(depth=6, width="64", activation="relu", init="normal", init_sigma=0.1, dropout=0.0,
              optimizer="sgd", lr=0.05, batch_size=64, epochs=2, subset=3000)
STUDENTS = [("Ada", 0.01), ("Ben", 0.05), ("Chloé", 0.1), ("Dev", 0.2), ("Emma", 0.3),
            ("Farid", 0.5), ("Grace", 1.0), ("Hugo", 10.0)]
TASK = ("**Find the σ at which a 6-layer ReLU network starts to learn.** Pick an *Init σ*, predict "
        "the test accuracy, press Start, then compare with the class chart on the screen.")


def token() -> str:
    return secrets.token_urlsafe(18)


def make_class():
    ledger = Ledger()
    svc = RunService(ledger, headless=True, rules=ClassRules(ledger))
    room, chs = Classroom(svc.ledger), Challenges(svc.ledger)
    teacher = token()
    info = room.create_class(teacher, "Neural networks · group B")
    room.set_lesson(info.id, make_lesson(LESSON, allowed=("init_sigma",), hidden=("seed", "subset"),
                                         task=TASK, focus="init_sigma"))
    room.set_limits(info.id, 2, 10, svc.limits.runs_per_student)
    chs.open(info.id, "mnist", "Best network in 2 epochs")
    owners = {}
    runs = []
    for name, sigma in STUDENTS:
        owners[name] = token()
        room.join(info.join_code, owners[name], name)
        ok = room.admit(owners[name], dict(LESSON, init_sigma=sigma))
        runs.append(svc.submit(owners[name], ok.hp, class_id=ok.class_id))
    for run in runs:
        svc.wait(run.id)
    svc.flush_checkpoints()
    for run in runs:
        try:
            chs.submit(run.owner, svc.get(run.owner, run.id))
        except Exception as e:   # the diverged one cannot be submitted
            print("not submitted:", e)
    svc.close()
    return info, teacher, owners


def cookie(context, url: str, owner: str) -> None:
    context.add_cookies([{"name": OWNER_COOKIE, "value": owner, "url": url}])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    info, teacher, owners = make_class()
    with running_app() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        t = browser.new_context(viewport={"width": 1400, "height": 1000})
        cookie(t, url, teacher)
        page = t.new_page()
        page.goto(f"{url}/teacher?class={info.id}")
        page.get_by_text("updated").first.wait_for(timeout=60_000)
        page.wait_for_timeout(2500)
        page.screenshot(path=str(OUT / "class_teacher.png"))
        page.goto(f"{url}/teacher?class={info.id}&tab=Class+chart")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(OUT / "class_chart.png"), full_page=True)
        page.goto(f"{url}/teacher?class={info.id}&tab=Lesson")
        page.get_by_text("Lesson running").wait_for()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(OUT / "class_lesson.png"))
        page.goto(f"{url}/teacher?class={info.id}&tab=Challenge&present=1")
        page.locator("[data-testid=stTable]").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(OUT / "class_leaderboard_projector.png"))

        s = browser.new_context(viewport={"width": 1400, "height": 1000})
        cookie(s, url, owners["Chloé"])
        student = s.new_page()
        student.goto(f"{url}/train")
        student.get_by_text("Find the σ").wait_for(timeout=60_000)
        student.wait_for_timeout(2000)
        student.evaluate("() => document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')"
                         ".forEach(e => e.scrollTo(0, 0))")
        student.wait_for_timeout(300)
        student.screenshot(path=str(OUT / "class_student_train.png"))

        new = browser.new_context(viewport={"width": 1400, "height": 800}).new_page()
        new.goto(f"{url}/class?join={info.join_code}")
        new.get_by_role("button", name="Join the class").wait_for(timeout=60_000)
        new.get_by_label("Your name, as the class will see it").fill("Iris")
        new.wait_for_timeout(800)
        new.screenshot(path=str(OUT / "class_join.png"))
        browser.close()
    print("wrote", *sorted(p.name for p in OUT.glob("class_*.png")))


if __name__ == "__main__":
    main()
