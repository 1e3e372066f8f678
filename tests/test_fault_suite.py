"""The fault suite (tests/fault_suite.py) in CI: 20 kills, every bad input, every config key, damaged
checkpoints and a full disk. Four of its parts start from one finished reference run, as does
tests/test_workflow_e2e.py's rule all: conftest.py's ``reference``, made once for them all."""

from __future__ import annotations

import pytest

import fault_suite
from conftest import SHARES_THE_REFERENCE

pytestmark = pytest.mark.slow


@SHARES_THE_REFERENCE
def test_killed_at_20_moments_and_recovered_with_the_readmes_commands_the_outputs_equal_an_uninterrupted_run(
    tmp_path, reference
):
    result = fault_suite.kill_suite(tmp_path, kills=20, seed=1, reference=reference)
    failed = [kill for kill in result["kills"] if not kill["recovered"]]
    assert not failed, failed
    # the phases' kills among the 20, and one more for each phase that the interrupted run, whose
    # stream of files drifts from the reference's, reaches only after the 20 moments (kill_chain)
    assert 20 <= len(result["kills"]) <= 20 + len(fault_suite.KILL_PHASES), result["kills"]
    phases = set(result["kills_by_phase"])
    assert {"download", "split", "cache", "evaluation", "plotting"} <= phases, phases
    assert any(phase.startswith("training") for phase in phases), phases
    comparison = result["comparison"]
    assert comparison["compared"] > 50
    assert comparison["different"] == [] and comparison["missing"] == [], comparison
    assert comparison["bytes_lost"] == 0


def test_every_bad_input_is_refused_with_one_line_and_leaves_nothing_that_looks_complete(tmp_path):
    cases = fault_suite.bad_input_suite(tmp_path)
    assert len(cases) >= 30
    assert [case for case in cases if not case.ok] == []


@SHARES_THE_REFERENCE
def test_every_config_key_reruns_exactly_what_it_affects(reference):
    rows = fault_suite.config_key_suite(reference)
    assert len(rows) == len(fault_suite.EXPECTED_RERUNS)
    assert [row for row in rows if not row["ok"]] == []


def test_kill_moments_reach_a_phase_that_an_even_spread_steps_over():
    events = (
        [f"results/downloads/part{i}" for i in range(3)]
        + [f"results/data/train/cats/{i}" for i in range(30)]
        + [f"results/checkpoints/baseline/seed1/epoch{i}.keras" for i in range(40)]
        + ["results/logs/evaluate/baseline/seed1.log", "results/metrics/baseline/seed1.json"]
        + [f"results/plots/p{i}.png" for i in range(30)]
    )
    times = [float(second) for second in range(1, len(events) + 1)]  # one event a second
    moments = fault_suite.kill_moments(events, times, kills=5)
    phases = {fault_suite.phase_of(events[m - 1]) for m in moments}
    assert "evaluation" in phases, phases
    assert len(moments) == len(set(moments)) == 5  # the phase's moment takes an even one's place
    # none in the run's last END_SHARE of its time, where a kill may find the run finished
    assert max(times[m - 1] for m in moments) <= (1 - fault_suite.END_SHARE) * times[-1]
    assert max(moments) == int((1 - fault_suite.END_SHARE) * len(events))


@SHARES_THE_REFERENCE
def test_a_damaged_checkpoint_resumes_from_the_newest_intact_epoch_or_starts_over(tmp_path, reference):
    cases = fault_suite.damaged_checkpoint_suite(tmp_path, reference)
    assert [case["damaged_epochs"] for case in cases] == [[2], [2, 1]]
    assert [case for case in cases if not case["ok"]] == []


@SHARES_THE_REFERENCE
@pytest.mark.skipif(not fault_suite.can_mount_tmpfs(), reason="mounting a tmpfs needs root on Linux")
def test_a_full_disk_stops_every_rule_with_one_line_naming_the_folder(tmp_path, reference):
    cases = fault_suite.disk_full_suite(tmp_path, reference)
    rules = {case["rule"] for case in cases}
    assert {"download_data", "split_data", "cache_images", "train", "evaluate", "plot_history"} <= rules
    assert [case for case in cases if not case["ok"]] == []
