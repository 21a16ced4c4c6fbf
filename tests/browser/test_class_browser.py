"""A class in a real Chromium: one teacher and two students, each a browser context of its own
(separate cookies = separate people). The students join with the link from the teacher's page;
the teacher's table shows them; one trains a short run under a lesson and submits it to the
challenge; the leaderboard shows it within 5 s. A student given the teacher's address of a class
(this one or another) sees nothing of it."""
import re
import time
from pathlib import Path

import pytest

from core.classroom.classes import Classroom, make_lesson
from core.ledger import Ledger

SHORT = dict(subset=1000, depth=1, width="32", epochs=1, batch_size=100, dropout=0.0)
TASK = "Find the learning rate that learns fastest in one epoch."


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def people(browser, request):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
    pages = [c.new_page() for c in contexts]
    for p in pages:
        p.set_default_timeout(30_000)
    yield pages
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.failed:            # what each person saw
        ARTIFACTS.mkdir(exist_ok=True)
        for who, p in zip(("teacher", "ada", "bob"), pages):
            p.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{who}.png"), full_page=True)
    for c in contexts:
        c.close()


def wait_for_app(page, ready: str) -> None:
    """Until the page shows `ready` (a selector) and the script has finished running."""
    page.wait_for_selector("[data-testid=stApp]")
    page.locator(ready).first.wait_for()
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")


def main_text(page) -> str:
    return page.inner_text("[data-testid=stMain]")


def table_text(page) -> str:
    """The text of the dataframes' cells (Glide's accessible table mirrors the canvas)."""
    return page.evaluate("() => Array.from(document.querySelectorAll('[data-testid=stDataFrame] table td'))"
                         ".map(e => e.innerText).join(' | ')")


def wait_until(cond, timeout: float, shows=lambda: "") -> float:
    """Seconds until cond() held (fails after `timeout`, saying what `shows()` shows)."""
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {shows()}"
        time.sleep(0.1)
    return time.monotonic() - start


def test_a_class_with_a_teacher_and_two_students(people, app_url):
    teacher, ada, bob = people
    # the teacher creates the class and reads the join link off the page
    teacher.goto(f"{app_url}/teacher")
    wait_for_app(teacher, "text=Create the class")
    teacher.get_by_label("Name of the class").fill("Browser class")
    teacher.get_by_role("button", name="Create the class").click()
    teacher.get_by_text("Students join at").wait_for()
    link = re.search(r"Students join at (\S+)", main_text(teacher))[1]
    assert re.fullmatch(rf"{re.escape(app_url)}/class\?join=[A-Z2-9]{{4}}-[A-Z2-9]{{4}}", link)
    class_id = re.search(r"class=([0-9a-f]{16})", teacher.url)[1]
    assert "teach=" not in teacher.url

    # two students join with the link
    for student, name in ((ada, "Ada"), (bob, "Bob")):
        student.goto(link)
        wait_for_app(student, "text=Join the class")
        student.get_by_label("Your name, as the class will see it").fill(name)
        student.get_by_role("button", name="Join the class").click()
        student.get_by_text(f"You are in this class as {name}").wait_for()
    seconds = wait_until(lambda: "Ada" in table_text(teacher) and "Bob" in table_text(teacher), 5,
                         lambda: table_text(teacher))
    print(f"teacher's table shows both students {seconds:.1f} s after the second joined")

    # a lesson (set in the ledger as the Lesson tab would) and a challenge opened on the page
    room = Classroom(Ledger())
    room.set_lesson(class_id, make_lesson(SHORT, allowed=("lr",), task=TASK))
    teacher.get_by_role("tab", name="Challenge").click()
    teacher.get_by_role("button", name="🏆 Open the challenge").click()
    teacher.get_by_text("No submissions yet.").wait_for()

    # Ada trains under the lesson (a reload keeps her in the class) and submits her run
    ada.goto(f"{app_url}/train?depth=5")          # a link that tries to change a locked value
    wait_for_app(ada, ".st-key-btn_start button")
    ada.get_by_text(TASK).wait_for()
    depth = ada.locator("[data-testid=stSlider]", has_text="Hidden layers").locator("input").first
    assert depth.is_disabled() and depth.input_value() == "1" and "depth=1" in ada.url
    ada.get_by_role("button", name="▶ Start").click()
    ada.get_by_text("✅ finished").first.wait_for(timeout=120_000)
    submit = ada.get_by_role("button", name="🏆 Submit run #1 to the challenge")
    ada.wait_for_function("() => Array.from(document.querySelectorAll('button')).some("
                          "b => b.innerText.includes('Submit run #1') && !b.disabled)")
    submit.click()
    ada.get_by_text("Run #1 scored").wait_for()
    accuracy = re.search(r"Run #1 scored (\d+\.\d+%)", main_text(ada))[1]
    seconds = wait_until(lambda: "Ada" in table_text(teacher), 5, lambda: main_text(teacher))
    print(f"leaderboard shows the submission {seconds:.1f} s after it was scored")
    board = table_text(teacher)
    assert board.startswith("1 | Ada | " + accuracy) and "Bob" not in board

    # the run itself: in the teacher's table, not in Bob's browser
    teacher.get_by_role("tab", name="Students").click()
    wait_until(lambda: "finished" in table_text(teacher), 15, lambda: table_text(teacher))   # a tab switch: not timed
    bob.goto(f"{app_url}/train")
    wait_for_app(bob, ".st-key-btn_start button")
    assert "run #1" not in main_text(bob).lower()

    # another class's teacher address, and this class's, in a student's browser: nothing
    other = room.create_class("someone-else-teacher-tok", "Other class")
    for url in (f"{app_url}/teacher?class={other.id}", teacher.url):
        bob.goto(url)
        wait_for_app(bob, "text=not available in this browser")
        text = main_text(bob)
        assert "not available in this browser" in text
        assert "Other class" not in text and "Browser class" not in text
        assert other.join_code not in text and "Ada" not in text and not table_text(bob)
