"""Classes: tokens and roles, joining, lessons that lock the controls, the class's limits."""
import re
import time

import pytest

from core.classroom.classes import ClassError, Classroom, enforce, make_lesson, normalize_join_code, valid_teacher_token
from core.classroom.rules import ClassRules
from core.ledger import Ledger
from core.nn.config import PARAMS, ConfigError, HyperParams
from core.runs import Refused, RunService
from core.settings import Limits
from core.states import FINISHED


@pytest.fixture
def room(tmp_path):
    return Classroom(Ledger(tmp_path / "home"))


# -- tokens -----------------------------------------------------------------------------------

def test_tokens_are_unguessable_and_each_has_its_own_form(room):
    classes = [room.create_class(f"t{i}", f"class {i}") for i in range(50)]
    codes = {c.join_code for c in classes}
    tokens = {c.teacher_token for c in classes}
    assert len(codes) == len(tokens) == 50
    for c in classes:
        assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", c.join_code)   # no 0 O 1 I
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", c.teacher_token)
        assert normalize_join_code(c.teacher_token) is None and not valid_teacher_token(c.join_code)
    # 8 symbols of 32: 40 bits; the token: 32 symbols of 64 = 192 bits
    assert len(set("".join(codes))) > 20   # drawn from the whole alphabet, not a counter


def test_a_typed_code_is_normalized_and_malformed_ones_refused():
    assert normalize_join_code(" kx7p m2qd ") == "KX7P-M2QD"
    assert normalize_join_code("KX7PM2QD") == "KX7P-M2QD"
    for bad in ("KX7P-M2Q", "KX7P-M2QDX", "KX0P-M2QD", "KX1P-M2QD", "", None, "'; DROP TABLE--"):
        assert normalize_join_code(bad) is None
    assert not valid_teacher_token("x" * 31) and not valid_teacher_token("x" * 31 + "!")


def test_neither_secret_gives_the_other_role(room):
    a = room.create_class("teacher-a", "A")
    # the join code makes a student, not a teacher
    room.join(a.join_code, "student", "Sam")
    assert not room.is_teacher("student", a.id)
    assert room.claim_teacher_link(a.join_code.replace("-", "") * 4, "student") is None
    assert not room.is_teacher("student", a.id)
    # the teacher token is no join code
    with pytest.raises(ClassError, match="not a class code"):
        room.join(a.teacher_token, "other", "Oli")
    # the class id (in the teacher page's address bar) is neither
    assert room.by_join_code(a.id) is None and room.claim_teacher_link(a.id, "student") is None
    assert room.teacher_classes("student") == []
    # the teacher link makes a teacher (e.g. the projector's computer), not a student
    assert room.claim_teacher_link(a.teacher_token, "projector").id == a.id
    assert room.is_teacher("projector", a.id) and room.membership("projector") is None


def test_a_replaced_link_stops_working_but_teachers_keep_their_class(room):
    a = room.create_class("teacher", "A")
    old_code, old_token = a.join_code, a.teacher_token
    a = room.new_join_code(a.id)
    a = room.new_teacher_link(a.id)
    assert a.join_code != old_code and a.teacher_token != old_token
    with pytest.raises(ClassError, match="No class has this code"):
        room.join(old_code, "late", "Lee")
    assert room.claim_teacher_link(old_token, "someone") is None
    assert room.is_teacher("teacher", a.id)


# -- joining ----------------------------------------------------------------------------------

def test_join_survives_a_restart_and_one_class_at_a_time(tmp_path):
    home = tmp_path / "home"
    room = Classroom(Ledger(home))
    a, b = room.create_class("t", "A"), room.create_class("t", "B")
    room.join(a.join_code, "s1", "  Ada   Lovelace ")
    again = Classroom(Ledger(home))          # a server restart: a new ledger object, same folder
    info, member = again.student_class("s1")
    assert info.id == a.id and member.name == "Ada Lovelace"
    again.join(b.join_code, "s1", "Ada")
    assert again.student_class("s1")[0].id == b.id
    assert [m.owner for m in again.members(a.id)] == [] and [m.name for m in again.members(b.id)] == ["Ada"]


def test_names_are_checked_and_unique_in_a_class(room):
    a = room.create_class("t", "A")
    room.join(a.join_code, "s1", "Ada")
    with pytest.raises(ClassError, match="already called"):
        room.join(a.join_code, "s2", "ADA")
    for bad in ("", "   ", "x" * 41, "a\x00b"):
        with pytest.raises(ClassError):
            room.join(a.join_code, "s3", bad)
    room.join(a.join_code, "s1", "Ada L.")           # the same student renames
    assert [m.name for m in room.members(a.id)] == ["Ada L."]


def test_look_alike_names_are_refused_and_typed_ones_normalised(room):
    a = room.create_class("t", "A")
    room.join(a.join_code, "s1", "Ada")
    for twin in ("Аԁа", "ＡＤＡ", " ada "):          # all-Cyrillic, full-width, spaces: the same name
        with pytest.raises(ClassError, match="already called"):
            room.join(a.join_code, "s2", twin)
    for bad in ("Аda", "ㅤ", "Ad​a", "A‮da"):   # mixed alphabets, blank filler, invisible
        with pytest.raises(ClassError, match="alphabets|visible"):
            room.join(a.join_code, "s2", bad)
    assert room.join(a.join_code, "s2", "Ｂｏｂ").name == "Bob"
    with pytest.raises(ClassError, match="alphabets"):
        room.create_class("t", "Сlass A")               # a class name too (Cyrillic С)


def test_a_closed_class_takes_no_new_students(room):
    a = room.create_class("t", "A")
    room.join(a.join_code, "s1", "Ada")
    room.close(a.id)
    with pytest.raises(ClassError, match="closed"):
        room.join(a.join_code, "s2", "Bob")
    assert room.student_class("s1")[0].id == a.id      # members stay
    room.reopen(a.id)
    room.join(a.join_code, "s2", "Bob")


# -- lessons ----------------------------------------------------------------------------------

LESSON = dict(depth=9, width="100", activation="relu", init="normal", init_sigma=0.1,
              optimizer="sgd", lr=0.01, epochs=1, dropout=0.0)


def test_enforce_keeps_allowed_values_and_forces_every_locked_one():
    lesson = make_lesson(LESSON, allowed=("init_sigma",), hidden=("seed",), task="find σ")
    wants = dict(LESSON, depth=2, init_sigma=1.0, lr=10.0, optimizer="adam", epochs=200, seed=7,
                 init="he")
    hp = enforce(lesson, wants)
    assert hp.init_sigma == 1.0                                   # allowed: the student's
    expected = HyperParams.validate(LESSON).replace(init_sigma=1.0)   # everything else: the lesson's
    assert hp == expected
    # every locked parameter, one by one, whatever value the student sends
    for p in PARAMS:
        if p.name in lesson.allowed:
            continue
        other = HyperParams.validate(LESSON)
        tampered = dict(other.to_dict())
        tampered[p.name] = "junk"           # even an invalid value never reaches validation
        assert getattr(enforce(lesson, tampered), p.name) == lesson.settings[p.name]
    assert enforce(None, wants) == HyperParams.validate(wants)


def test_an_allowed_value_that_does_not_fit_the_locked_ones_is_a_config_error():
    lesson = make_lesson(dict(LESSON, depth=2, width="200,100"), allowed=("depth",))
    with pytest.raises(ConfigError) as e:
        enforce(lesson, dict(depth=3))
    assert "width" in e.value.errors


def test_lessons_are_checked(room):
    with pytest.raises(ClassError, match="Not a setting"):
        make_lesson(LESSON, allowed=("sigma",))
    with pytest.raises(ClassError, match="cannot be hidden"):
        make_lesson(LESSON, allowed=("lr",), hidden=("lr",))
    with pytest.raises(ConfigError):
        make_lesson(dict(LESSON, lr=100))
    a = room.create_class("t", "A")
    room.set_limits(a.id, None, 5, server_unfinished=3)
    with pytest.raises(ClassError, match="at most 5"):
        room.set_lesson(a.id, make_lesson(dict(LESSON, epochs=10)))


def test_lesson_changes_are_versioned_and_reach_the_students_locks(room):
    a = room.create_class("t", "A")
    room.join(a.join_code, "s1", "Ada")
    assert room.locks_for("s1") == ({}, set(), None) and room.lesson_version(a.id) == 0
    room.set_lesson(a.id, make_lesson(LESSON, allowed=("init_sigma", "lr"), hidden=("seed", "subset")))
    locked, hidden, lesson = room.locks_for("s1")
    assert room.lesson_version(a.id) == 1 and hidden == {"seed", "subset"}
    assert set(locked) == {p.name for p in PARAMS} - {"init_sigma", "lr"} and locked["depth"] == 9
    room.set_lesson(a.id, None)
    assert room.locks_for("s1") == ({}, set(), None) and room.lesson_version(a.id) == 2
    assert room.locks_for("not-a-student") == ({}, set(), None)


# -- limits: through the run service ----------------------------------------------------------

SMALL = dict(subset=1000, depth=1, width="32", epochs=1, batch_size=100, dropout=0.0)


@pytest.fixture
def svc(tmp_path):
    led = Ledger(tmp_path / "home")
    s = RunService(led, rules=ClassRules(led),
                   limits=Limits.defaults().replace(training_cores=1, threads_per_run=1, runs_per_student=3))
    yield s
    s.close()


def test_class_limits_are_enforced_before_submit(svc):
    room = Classroom(svc.ledger)
    a = room.create_class("t", "A")
    room.join(a.join_code, "s1", "Ada")
    with pytest.raises(ClassError, match="1 to 3"):
        room.set_limits(a.id, 5, None, server_unfinished=svc.limits.runs_per_student)
    room.set_limits(a.id, 2, 10, server_unfinished=svc.limits.runs_per_student)
    with pytest.raises(Refused, match="at most 10 epochs"):
        room.admit("s1", HyperParams.validate(SMALL, epochs=11))
    for _ in range(2):
        ok = room.admit("s1", HyperParams.validate(SMALL, epochs=10))
        assert ok.class_id == a.id
        svc.submit("s1", ok.hp, start=False, class_id=ok.class_id)
    with pytest.raises(Refused, match="2 unfinished runs per student.*you have 2"):
        room.admit("s1", HyperParams.validate(SMALL))
    # someone outside the class has only the server's limits, and no class id
    free = room.admit("outsider", HyperParams.validate(SMALL, epochs=50))
    assert free.class_id is None and free.hp.epochs == 50
    # a finished run no longer counts
    run = svc.runs("s1")[0]
    svc.start("s1", run.id)
    assert svc.wait(run.id, 60) and svc.get("s1", run.id).snapshot().state == FINISHED
    assert room.admit("s1", HyperParams.validate(SMALL)).class_id == a.id


def test_admit_forces_the_lesson_and_tags_the_class(svc):
    room = Classroom(svc.ledger)
    a = room.create_class("t", "A")
    room.join(a.join_code, "s1", "Ada")
    room.set_lesson(a.id, make_lesson(dict(SMALL, lr=0.01), allowed=("lr",)))
    ok = room.admit("s1", dict(SMALL, lr=0.1, depth=4, width="4096", epochs=200))
    assert (ok.hp.lr, ok.hp.depth, ok.hp.width, ok.hp.epochs) == (0.1, 1, "32", 1)
    run = svc.submit("s1", ok.hp, start=False, class_id=ok.class_id)
    assert [r.id for r in room.class_runs(a.id)] == [run.id]


def test_class_runs_include_untagged_runs_made_while_in_the_class_only(svc):
    room = Classroom(svc.ledger)
    a, b = room.create_class("t", "A"), room.create_class("t", "B")
    before = svc.submit("s1", HyperParams.validate(SMALL), start=False)
    time.sleep(0.01)
    room.join(a.join_code, "s1", "Ada")
    during = svc.submit("s1", HyperParams.validate(SMALL), start=False)
    other = svc.submit("s1", HyperParams.validate(SMALL), start=False, class_id=b.id)
    assert {r.id for r in room.class_runs(a.id)} == {during.id}
    assert {r.id for r in room.class_runs(b.id)} == {other.id}
    assert before.id not in {r.id for r in room.class_runs(a.id)}


def test_deleting_a_class_deletes_its_runs_and_everything_in_it(svc):
    room = Classroom(svc.ledger)
    a, b = room.create_class("t", "A"), room.create_class("t", "B")
    room.join(a.join_code, "s1", "Ada")
    room.set_lesson(a.id, make_lesson(SMALL))
    mine = svc.submit("s1", HyperParams.validate(SMALL), class_id=a.id)
    keep = svc.submit("s2", HyperParams.validate(SMALL), start=False, class_id=b.id)
    assert room.delete(a.id, svc) == 1
    assert room.get(a.id) is None and svc.get("s1", mine.id) is None
    assert not svc.ledger.weights_dir(mine.id).exists()
    assert room.student_class("s1") is None and room.teacher_classes("t") == [room.get(b.id)]
    assert svc.get("s2", keep.id) is not None
    assert svc.ledger.connect().execute("SELECT count(*) FROM class_members").fetchone()[0] == 0
