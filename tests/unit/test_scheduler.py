"""core.runs.scheduler: the fair queue and the wait estimate, on hand-worked cases."""
import pytest

from core.runs.scheduler import DEFAULT_SAMPLES_PER_SECOND, Waiting, estimated_waits, fair_order


def ids(order):
    return [w.run_id for w in order]


def test_a_students_second_run_waits_behind_every_other_students_first():
    # alice already trains one run; her a2 arrived first, still bob's and carol's first go ahead
    waiting = [Waiting("a2", "alice", 1.0), Waiting("b1", "bob", 2.0), Waiting("c1", "carol", 3.0),
               Waiting("b2", "bob", 4.0)]
    # ranks: a2 1 (alice trains 1), b1 0, c1 0, b2 1 (bob's b1 waits ahead of it)
    assert ids(fair_order(waiting, ["alice"])) == ["b1", "c1", "a2", "b2"]


def test_with_nobody_training_it_is_first_come_first_served_per_student():
    waiting = [Waiting("x3", "x", 3.0), Waiting("x1", "x", 1.0), Waiting("y2", "y", 2.0),
               Waiting("x2", "x", 2.5)]
    # x1 rank 0 (t=1), y2 rank 0 (t=2), x2 rank 1 (t=2.5), x3 rank 2
    assert ids(fair_order(waiting, [])) == ["x1", "y2", "x2", "x3"]


def test_ten_runs_of_one_student_do_not_push_another_back_ten_places():
    waiting = [Waiting(f"m{i}", "mallory", float(i)) for i in range(10)] + [Waiting("s", "sam", 100.0)]
    assert ids(fair_order(waiting, []))[:2] == ["m0", "s"]


def test_runs_that_train_count_for_their_owner():
    waiting = [Waiting("a", "ann", 1.0), Waiting("b", "ben", 2.0)]
    assert ids(fair_order(waiting, ["ann", "ann"])) == ["b", "a"]
    assert ids(fair_order(waiting, ["ben"])) == ["a", "b"]


def test_same_rank_and_time_are_ordered_by_run_id():
    waiting = [Waiting("r2", "p", 5.0), Waiting("r1", "q", 5.0)]
    assert ids(fair_order(waiting, [])) == ["r1", "r2"]


def test_nothing_waiting_nothing_to_order():
    assert fair_order([], ["a"]) == []


def test_waits_as_slots_free_up():
    # 2 slots, held by runs with 30 s and 50 s left (a third training run, 100 s, is ignored:
    # only as many runs as slots can hold one). Each queued run trains 6000 samples at 300/s = 20 s.
    queue = [Waiting(f"q{i}", "o", float(i), samples_left=6000) for i in range(3)]
    waits = estimated_waits(queue, slots=2, training_seconds_left=[100.0, 30.0, 50.0],
                            samples_per_second=300.0)
    # q0 starts when the 30 s slot frees (ends at 50), q1 at 50 (ends 70), q2 at 50 (the other slot)
    assert waits == [30.0, 50.0, 50.0]


def test_free_slots_mean_no_wait_and_the_default_speed_is_used_before_any_run_has_one():
    queue = [Waiting("a", "o", 0.0, samples_left=int(DEFAULT_SAMPLES_PER_SECOND * 10)),
             Waiting("b", "o", 1.0, samples_left=0), Waiting("c", "o", 2.0, samples_left=0)]
    assert DEFAULT_SAMPLES_PER_SECOND == 3000.0
    # 2 slots, one free: a starts now (and takes 10 s at the default speed), b takes the slot
    # freed at 5 s, then c the one b frees at once (b has nothing left to train)
    assert estimated_waits(queue, 2, [5.0], None) == [0.0, 5.0, 5.0]
    assert estimated_waits(queue, 1, [], 0.0) == [0.0, 10.0, 10.0]


def test_an_empty_queue_has_no_waits():
    assert estimated_waits([], 3, [1.0], 100.0) == []


def test_waits_grow_with_each_run_ahead_in_one_slot():
    queue = [Waiting(str(i), "o", float(i), samples_left=1000) for i in range(4)]
    assert estimated_waits(queue, 1, [7.0], 100.0) == pytest.approx([7.0, 17.0, 27.0, 37.0])
