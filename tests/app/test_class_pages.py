"""The class pages in AppTest: the teacher's page (create, roles, the live table, lessons, the
challenge's leaderboard, drawings, projector view), a student's locked Train page, joining."""
import secrets

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.classroom.challenge import Challenges
from core.classroom.classes import Classroom, make_lesson
from core.classroom.drawings import DrawingSet
from core.drawing import predict
from core.nn.config import HyperParams
from core.states import FINISHED
from core.text import plain
from tests.app.conftest import rerun_until
from ui import shared

SMALL = dict(subset=1000, depth=1, width="32", epochs=1, batch_size=100, dropout=0.0)


def owner() -> str:
    return secrets.token_urlsafe(18)


def room() -> Classroom:
    return Classroom(shared.service().ledger)


def texts(at) -> str:
    """Everything the page says in text elements, as one string."""
    parts = []
    for kind in ("title", "markdown", "caption", "info", "warning", "error", "success", "subheader"):
        parts += [str(e.value) for e in at.get(kind)]
    parts += [e.proto.body for e in at.get("html")]
    return "\n".join(parts)


def table(at, index: int = 0) -> list[dict]:
    return at.dataframe[index].value.to_dict("records")


@pytest.fixture
def teacher_page(open_page):
    def _open(me: str, **query) -> AppTest:
        return open_page("pages/teacher.py", _owner=me, **query)
    return _open


class Run:
    """What Challenges.submit reads of a run, around the shipped default model."""
    def __init__(self, owner, number, lr=0.001):
        self.owner, self.id, self.number = owner, secrets.token_hex(8), number
        self.hp = HyperParams.validate(depth=2, width="512,256", lr=lr)

    def snapshot(self):
        return type("Snap", (), {"state": FINISHED})()

    def model(self):
        return predict.default_model()


# -- the teacher's page ---------------------------------------------------------------------------

def test_a_teacher_creates_a_class_and_sees_how_students_join(teacher_page):
    me = owner()
    at = teacher_page(me)
    assert at.title[0].value == "👩‍🏫 Teach a class"
    at.text_input[0].input("Physics 7b")
    at.button[0].click().run()
    info = room().teacher_classes(me)[0]
    assert info.name == "Physics 7b" and at.query_params["class"] == info.id
    page = texts(at)
    assert "👩‍🏫 Physics 7b" in page and info.join_code in page and f"/class?join={info.join_code}" in page
    assert info.teacher_token not in page                 # the teacher link only when asked for
    # a reload of the same browser finds the class again
    again = teacher_page(me)
    assert [b.label for b in again.button if b.key == f"open_{info.id}"] == ["Open"]


def test_someone_else_with_the_teachers_address_sees_nothing(teacher_page):
    teacher, student = owner(), owner()
    info = room().create_class(teacher, "Secret class")
    other = room().create_class(owner(), "Other class")
    room().join(other.join_code, student, "Sam")
    for query in ({"class": info.id}, {"class": info.id, "tab": "Challenge"}, {"class": "0" * 16}):
        at = teacher_page(student, **query)
        page = texts(at)
        assert "not available in this browser" in page and "Secret class" not in page
        assert info.join_code not in page and not at.dataframe and not at.tabs
    # a made-up or stale teacher token grants nothing either
    at = teacher_page(student, teach="x" * 32)
    assert "This teacher link is not valid" in texts(at) and "teach" not in at.query_params
    assert not room().is_teacher(student, info.id)


def test_the_teacher_link_makes_a_teacher_and_leaves_the_address_bar(teacher_page):
    info = room().create_class(owner(), "Class C")
    projector = owner()
    at = teacher_page(projector, teach=info.teacher_token)
    assert "teach" not in at.query_params and at.query_params["class"] == info.id
    assert "👩‍🏫 Class C" in texts(at) and info.teacher_token not in texts(at)
    assert room().is_teacher(projector, info.id) and room().membership(projector) is None


def test_the_live_table_shows_every_student_and_only_the_settings_that_differ(teacher_page):
    teacher, ada, bob, cy = owner(), owner(), owner(), owner()
    info = room().create_class(teacher, "Live")
    for who, name in ((ada, "Ada"), (bob, "Bob"), (cy, "Cy")):
        room().join(info.join_code, who, name)
    svc = shared.service()
    done = svc.submit(ada, HyperParams.validate(SMALL, lr=0.01), class_id=info.id)
    idle = svc.submit(bob, HyperParams.validate(SMALL, lr=0.1, epochs=50), start=False, class_id=info.id)
    assert svc.wait(done.id, 60)
    at = teacher_page(teacher, **{"class": info.id})
    rows = table(at)
    assert [r["Student"] for r in rows] == ["Ada", "Bob", "Cy"]
    assert set(rows[0]) == {"Student", "Run", "Learning rate", "Epochs", "State", "Details",
                            "Best val. acc.", "Test acc."}        # lr and epochs differ; depth etc. do not
    assert [(r["Learning rate"], r["Epochs"]) for r in rows[:2]] == [("0.01", "1"), ("0.1", "50")]
    rec = svc.ledger.get_run(done.id)
    assert rows[0]["State"] == "✅ finished" and rows[0]["Test acc."] == f"{rec.test_accuracy:.2%}"
    assert rows[1]["State"] == "⚪ ready" and rows[1]["Details"] == "not started"
    assert rows[2]["Run"] == "–" and rows[2]["State"] == "no run yet"
    # the table follows without a reload: a new run appears at the next refresh
    svc.submit(cy, HyperParams.validate(SMALL, lr=0.1, epochs=50), start=False, class_id=info.id)
    at.run()
    assert [r["Student"] for r in table(at)] == ["Ada", "Bob", "Cy"] and table(at)[2]["Run"] == "#1"
    # open a run read-only, and stop a runaway one
    at.selectbox(key="open_run_pick").set_value(idle.id).run()
    assert "Bob · run #1" in [s.value for s in at.subheader]
    svc.start(bob, idle.id)
    at.run()
    stop = [b for b in at.button if b.key == f"stop_{idle.id}"]
    assert stop, "an active run has a Stop button"
    stop[0].click().run()
    assert svc.get(bob, idle.id).snapshot().state == "stopped"


def test_a_lesson_from_a_preset_is_started_changed_and_ended(teacher_page):
    teacher = owner()
    info = room().create_class(teacher, "Lessons")
    at = teacher_page(teacher, **{"class": info.id, "tab": "Lesson"})
    at.selectbox(key="lesson_preset").set_value("init-sigma").run()
    assert at.multiselect(key="lesson_allowed_init-sigma_True").value == ["init", "init_sigma"]
    at.multiselect(key="lesson_hidden_init-sigma_True").set_value(["seed"]).run()
    at.button(key="start_lesson").click().run()
    lesson = room().get(info.id).lesson
    assert lesson.allowed == ("init", "init_sigma") and lesson.hidden == ("seed",)
    assert lesson.settings["depth"] == 9 and lesson.settings["subset"] == 20000   # the quick version
    assert lesson.focus == "init_sigma" and "Initialization σ" in lesson.task
    assert "Lesson running" in texts(at)
    at.button(key="end_lesson").click().run()
    assert room().get(info.id).lesson is None and room().lesson_version(info.id) == 2


def test_the_leaderboard_in_the_teachers_page_and_the_projector_view(teacher_page):
    teacher, ada, bob = owner(), owner(), owner()
    info = room().create_class(teacher, "Challenge")
    room().join(info.join_code, ada, "Ada")
    room().join(info.join_code, bob, "Bob")
    at = teacher_page(teacher, **{"class": info.id, "tab": "Challenge"})
    at.button(key="open_challenge").click().run()
    ch = Challenges(shared.service().ledger)
    assert ch.current(info.id).source == "mnist"
    first = ch.submit(bob, Run(bob, 1, lr=0.01))
    ch.submit(ada, Run(ada, 1))                      # the same score, later
    at.run()
    rows = table(at)
    assert [(r["#"], r["Student"]) for r in rows] == [(1, "Bob"), (2, "Ada")]
    assert rows[0]["Accuracy"] == f"{first.accuracy:.2%}" and rows[0]["Learning rate"] == "0.01"
    # the projector view: no sidebar, large type, the leaderboard as a large table
    big = teacher_page(teacher, **{"class": info.id, "tab": "Challenge", "present": "1"})
    css = "".join(h.proto.body for h in big.get("html"))
    assert 'section[data-testid="stSidebar"]' in css and "display: none" in css and "font-size: 24px" in css
    assert [r for r in big.table[0].value.to_dict("records")][0]["Student"] == "Bob"
    assert not big.dataframe
    assert not [b for b in big.button if b.key == "close_challenge"]      # nothing to click by mistake
    at.button(key="close_challenge").click().run()
    assert ch.current(info.id) is None


def test_drawings_grid_delete_and_export(teacher_page):
    teacher, ada = owner(), owner()
    info = room().create_class(teacher, "Drawings")
    room().join(info.join_code, ada, "Ada")
    ds = DrawingSet(shared.service().ledger)
    x = np.zeros((28, 28), np.float32)
    x[5:22, 12:16] = 1.0
    one = ds.add(ada, x, np.zeros((280, 280), np.uint8) + 9, 1)
    ds.add(ada, np.roll(x, 2, axis=1), np.zeros((280, 280), np.uint8) + 9, 1)
    at = teacher_page(teacher, **{"class": info.id, "tab": "Drawings"})
    assert "**2 drawings** by the class" in texts(at)
    at.segmented_control(key="drawings_digit").set_value(1).run()
    assert len(at.get("imgs") or at.get("image")) == 2
    at.button(key=f"del_drawing_{one.id}").click().run()
    assert ds.counts(info.id)[1] == 1 and len(at.get("imgs") or at.get("image")) == 1
    assert [b.label for b in at.get("download_button")] == ["⬇ IDX files (.zip, the MNIST format)", "⬇ NumPy (.npz)"]


def test_deleting_a_class_needs_its_name(teacher_page):
    teacher = owner()
    info = room().create_class(teacher, "Doomed")
    at = teacher_page(teacher, **{"class": info.id, "tab": "Class settings"})
    assert at.button(key="delete_class").disabled
    at.text_input(key="delete_confirm").input("Doomed").run()
    at.button(key="delete_class").click().run()
    assert room().get(info.id) is None and "class" not in at.query_params
    assert "The class was deleted" in texts(at)


def test_class_limits_are_saved(teacher_page):
    teacher = owner()
    info = room().create_class(teacher, "Limits")
    at = teacher_page(teacher, **{"class": info.id, "tab": "Class settings"})
    at.number_input[0].set_value(2)
    at.number_input[1].set_value(10)
    at.button[[b.label for b in at.button].index("Save the limits")].click().run()
    got = room().get(info.id)
    assert (got.max_unfinished, got.max_epochs) == (2, 10)


# -- the students' side ------------------------------------------------------------------------------

def test_a_student_joins_with_the_link_and_stays_after_a_reload(open_page):
    info = room().create_class(owner(), "Join me")
    me = owner()
    at = open_page("pages/join.py", _owner=me, join=info.join_code)
    assert at.text_input[0].value == info.join_code
    at.text_input[1].input("Ada")          # a form: sent with its button
    at.button[0].click().run()
    assert room().student_class(me)[1].name == "Ada" and "join" not in at.query_params
    assert "🎓 Join me" in texts(at)
    again = open_page("pages/join.py", _owner=me)           # a reload
    assert "You are in this class as **Ada**" in texts(again)
    wrong = open_page("pages/join.py", _owner=owner(), join="AAAA-AAAA")
    assert "No class has the code in this link" in texts(wrong)


BEACON = "![b](http://evil.example/b.png)"


def test_a_name_with_markup_is_shown_as_text_on_every_class_page(open_page, teacher_page):
    """A display name is plain text in the teacher's views, the projector and the student's page:
    never an image the teacher's browser fetches, nor a link."""
    teacher, me = owner(), owner()
    info = room().create_class(teacher, "[x](http://evil.example)")
    room().join(info.join_code, me, BEACON)
    Challenges(shared.service().ledger).open(info.id, title="**loud**")
    pages = [teacher_page(teacher), teacher_page(teacher, **{"class": info.id, "present": "1"}),
             teacher_page(teacher, **{"class": info.id, "tab": "Challenge"}),
             open_page("pages/join.py", _owner=me), open_page("pages/train.py", _owner=me)]
    students = pages[1].table[0].value.to_dict("records")
    assert students[0]["Student"] == plain(BEACON)                     # st.table renders Markdown
    for at in pages:
        page = texts(at)
        assert "](http" not in page and "**loud**" not in page, page   # only escaped: \]\(http
    assert plain(BEACON) in texts(pages[3]) and plain("[x](http://evil.example)") in texts(pages[0])


def test_a_locked_student_page(open_page):
    info = room().create_class(owner(), "Locked")
    me = owner()
    room().join(info.join_code, me, "Ada")
    room().set_lesson(info.id, make_lesson(dict(SMALL, depth=9, width="100", init="normal", init_sigma=0.1),
                                           allowed=("init_sigma", "lr"), hidden=("seed",),
                                           task="Find the σ at which a 9-layer ReLU network starts to learn."))
    at = open_page("pages/train.py", _owner=me, depth=3, width="64")       # a link that tries
    assert "Find the σ at which a 9-layer ReLU network starts to learn." in texts(at)
    depth = at.slider(key="depth")
    assert depth.disabled and depth.value == 9 and at.query_params["depth"] == "9"
    assert not at.select_slider(key="init_sigma").disabled and not at.select_slider(key="lr").disabled
    assert "seed" not in {w.key for w in at.sidebar if getattr(w, "key", None)}
    # session state: the next run forces the lesson's value back
    at.session_state["depth"] = 4
    at.session_state["seed"] = 77
    at.select_slider(key="init_sigma").set_value(1.0).run()
    assert at.slider(key="depth").value == 9 and at.session_state["seed"] == 0
    assert "784 → 100 → 100" in at.sidebar.caption[0].value and at.session_state["init_sigma"] == 1.0
    # the teacher ends the lesson: the controls come back within the follow interval
    room().set_lesson(info.id, None)
    at.run()
    assert not at.slider(key="depth").disabled and "seed" in {w.key for w in at.sidebar if getattr(w, "key", None)}


def test_a_student_submits_from_the_class_page_and_sees_the_leaderboard(open_page):
    info = room().create_class(owner(), "Board")
    me = owner()
    room().join(info.join_code, me, "Ada")
    svc = shared.service()
    run = svc.submit(me, HyperParams.validate(SMALL), class_id=info.id)
    assert svc.wait(run.id, 60)
    at = open_page("pages/join.py", _owner=me)
    assert "🏆" not in texts(at)
    Challenges(svc.ledger).open(info.id)
    rerun_until(at, lambda a: "🏆" in texts(a), timeout=10)
    at.button(key="submit_class_page").click().run()
    rec = Challenges(svc.ledger).submissions(Challenges(svc.ledger).current(info.id).id)[0]
    assert rec.run_id == run.id and f"{rec.accuracy:.2%}" in texts(at)
    rows = table(at)
    assert rows[0]["Student"] == "Ada" and rows[0]["Accuracy"] == f"{rec.accuracy:.2%}"
    assert "Confusion" not in texts(at)                     # the hidden labels' details are the teacher's


def test_adding_a_drawing_to_the_class(tmp_path):
    info = room().create_class(owner(), "Drawers")
    me = owner()
    room().join(info.join_code, me, "Ada")

    def page():
        import numpy as np

        from ui import class_widgets
        x = np.zeros((28, 28), np.float32)
        x[4:24, 13:15] = 1.0
        class_widgets.drawing_contribution(x, np.full((280, 280), 200, np.uint8), 7)

    at = AppTest.from_function(page, default_timeout=30)
    at.session_state["owner"] = me
    at.run()
    assert at.selectbox[0].value == 7                      # the network's reading, to confirm or correct
    at.selectbox[0].set_value(1)
    at.button[0].click().run()
    ds = DrawingSet(shared.service().ledger)
    assert [d.label for d in ds.list(info.id)] == [1] and ds.list(info.id)[0].predicted == 7
    assert at.button[0].disabled and at.button[0].label == "✓ Added"
    at2 = AppTest.from_function(page, default_timeout=30)
    at2.session_state["owner"] = owner()                   # not in a class: nothing at all
    at2.run()
    assert not at2.button and not at2.selectbox
