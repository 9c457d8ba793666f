"""The reports' physiology sections (issue 21 part 6), rendered from fabricated derivatives.

The per-run metrics are measured by neurokit.io.physio_for_run on pulse traces drawn from known
beats and written by neurokit.io.write_physio (neurokit.report._testing.add_physio), so the
numbers the captions give can be checked against what was planted: three beats left out of one
trace make three rejected intervals, a run without a recording says so, a flat pulse gives its reason.
"""

import re

import numpy as np
import pandas as pd
import pytest

from neurokit.models import hrv_agreement, hrv_relations
from neurokit.report import write_group_report, write_participant_reports
from neurokit.report._common import fmt
from neurokit.physio._hrv import _reject_intervals
from neurokit.report._physio import measure_again, plot_heart_rate, plot_pulse_window
from neurokit.report._testing import add_physio, fabricate_outputs


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S)
    assert match, section_id
    return match.group(1)


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).replace("&#39;", "'")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("physio-report")
    bids, out, config = fabricate_outputs(root, n_subjects=5, n_volumes=80, xss_site=False)
    results = add_physio(bids, out, config)
    pages = {p.name: p.read_text() for p in write_participant_reports(out, bids_dir=bids, config=config)}
    group = write_group_report(out, bids_dir=bids, config=config).read_text()
    return bids, out, config, results, pages, group


@pytest.mark.slow
def test_a_run_shows_its_beats_heart_rate_values_and_the_planted_rejections(study):
    _, _, _, results, pages, _ = study
    html = _section(pages["sub-01.html"], "run-2-physio")  # ses-2: three beats left out of the trace
    text = _text(html)
    assert 'alt="Cardiac trace with the detected beats"' in html and 'alt="Beat-to-beat heart rate over the run"' in html
    result = results["sub-01_ses-2_task-rest_space-MNI152NLin2009cAsym"]
    assert result.usable
    assert "red crosses mark the 3 rejected intervals" in text  # the planted missed beats, each one long interval
    assert "the stretch with the most rejected intervals" in text
    assert f"over the 160 s run ({result.measures['n_beats']} beats)" in text
    for value in ("heart_rate", "rmssd", "sdnn", "hf_power", "log_hf_power", "respiratory_rate"):
        assert f"<td>{result.measures[value]:.3g}</td>" in html, value
    assert f"{100 * result.measures['rejected_fraction']:.1f}%" in text and "Quality index (0-1)" in text
    assert "StartTime (recording starts -3 s from the first volume)" in text
    # the strategy with physiological regressors: their share of variance from the QC JSON
    assert "scrubbing+physio" in text and "8.3%" in text
    clean = _text(_section(pages["sub-01.html"], "run-1-physio"))
    assert "every interval here was accepted" in clean and "no interval was rejected" in clean


@pytest.mark.slow
def test_unusable_and_missing_recordings_say_why_and_draw_nothing(study):
    _, _, _, results, pages, _ = study
    missing = _section(pages["sub-02.html"], "run-1-physio")
    assert "<img" not in missing
    assert "This run has no physiological recording: no physiological recording for sub-02_ses-1" in _text(missing)
    flat = _section(pages["sub-02.html"], "run-2-physio")
    reason = results["sub-02_ses-2_task-rest_space-MNI152NLin2009cAsym"].reason
    assert reason.code == "flat" and "<img" not in flat
    assert f"No usable HRV for this run (flat): {reason.message}" in _text(flat)
    assert "sub-02_ses-2_task-rest_physio.tsv.gz" in _text(flat)  # the file and the fix, in words
    # a strategy without physiological regressors says so rather than drawing nothing
    assert "has no '+physio' suffix" in _text(flat)


def test_heart_rate_figure_draws_each_accepted_interval_and_the_pulse_figure_the_beats():
    rng = np.random.default_rng(1)
    beats = np.cumsum(0.8 + 0.03 * rng.standard_normal(60))
    beats = np.delete(beats, [20, 40])  # two missed beats: two intervals of ~1.6 s
    kept = _reject_intervals(np.diff(beats))  # the rule HRV uses
    assert (~kept).sum() == 2 and np.all(np.diff(beats)[~kept] > 1.4)
    fig = plot_heart_rate(beats, kept, run_duration=float(beats[-1] + 1), window=(10.0, 30.0))
    line = fig.axes[0].lines[0]
    expected = np.where(kept, 60.0 / np.diff(beats), np.nan)
    np.testing.assert_allclose(line.get_xdata(), beats[1:])
    np.testing.assert_allclose(line.get_ydata(), expected)
    t = np.arange(0, 20, 0.01)
    fig = plot_pulse_window(t, np.sin(t), beats[beats < 20], np.ones((beats < 20).sum(), bool), window=(0, 20))
    offsets = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], beats[beats < 20])
    np.testing.assert_allclose(offsets[:, 1], np.sin(beats[beats < 20]), atol=1e-3)


@pytest.mark.slow
def test_redrawing_measures_what_the_metrics_file_says(study):
    bids, out, config, results, _, _ = study
    from neurokit.io import RunQC, completed_runs

    for record in completed_runs(out):
        qc = RunQC.read(record["outputs"]["qc"]).to_dict()
        recording, result, seconds = measure_again(bids, record, qc, config.physio)
        written = pd.read_csv(record["outputs"]["physio"], sep="\t")
        if recording is None:
            assert not written["usable"].iloc[0]
            continue
        assert result.measures["n_beats"] == written["n_beats"].iloc[0]
        assert result.usable == bool(written["usable"].iloc[0])
        assert result.measures["rmssd"] == pytest.approx(written["rmssd"].iloc[0], rel=1e-5, nan_ok=True)


@pytest.mark.slow
def test_group_section_shows_hrv_by_stage_and_against_vmpfc_amygdala(study):
    _, out, config, _, _, group = study
    html = _section(group, "physio")
    text = _text(html)
    assert 'alt="Scan HRV by recovery stage"' in html
    assert 'alt="scan_hrv against vMPFC-amygdala (4 edges)"'.lower() in html.lower()
    features = pd.read_csv(out / "group" / "features.tsv", sep="\t", na_values=["n/a"], keep_default_na=False)
    relations = hrv_relations(features, stage_levels=list(config.columns.stage_levels))
    edge = relations[relations["relation"].str.startswith("vmPFC-amygdala")].iloc[0]
    assert np.isfinite(edge.value) and f"Spearman rho {fmt(edge.value, 2)}" in text
    n_sessions = features.drop_duplicates(["participant_id", "session_id"])["scan_hrv"].notna().sum()
    assert f"{n_sessions} of the " in text and "ln(ms)" in text
    assert "The phenotype has no HRV" in text  # the hrv role is the scan's: nothing to compare


@pytest.mark.slow
def test_phenotype_hrv_agreement_and_a_study_without_physiology(tmp_path):
    bids, out, config = fabricate_outputs(tmp_path / "a", n_subjects=3, n_volumes=60, xss_site=False,
                                          with_models=False)
    bare = _text(_section(write_group_report(out, bids_dir=bids, config=config).read_text(), "physio"))
    assert bare.strip().startswith("Heart-rate variability from the scan")
    assert "No run of this study has usable physiology" in bare
    assert "<img" not in _section((out / "group" / "group.html").read_text(), "physio")
    write_participant_reports(out, bids_dir=bids, config=config)
    assert "No physiology for this run (no desc-physio_metrics.tsv)" in _text(
        _section((out / "sub-01.html").read_text(), "run-1-physio"))

    add_physio(bids, out, config, phenotype_hrv=True, flat_for=(), missing_for=(), noisy_for=("02", "1"))
    html = _section(write_group_report(out, bids_dir=bids, config=config).read_text(), "physio")
    features = pd.read_csv(out / "group" / "features.tsv", sep="\t", na_values=["n/a"], keep_default_na=False)
    agree = hrv_agreement(features, scan_column="scan_rmssd")
    assert 'alt="Scan RMSSD against the phenotype&#39;s HRV"' in html
    assert agree["spearman"] is not None and f"Spearman rho {fmt(agree['spearman'], 2)}" in _text(html)
    # a run rejected for quality still shows its trace and heart rate: they show why
    write_participant_reports(out, bids_dir=bids, config=config)
    noisy = _section((out / "sub-02.html").read_text(), "run-1-physio")
    assert "No usable HRV for this run (quality)" in _text(noisy)
    assert 'alt="Cardiac trace with the detected beats"' in noisy and 'alt="Beat-to-beat heart rate over the run"' in noisy
    # without the raw dataset the values are shown and the trace is not
    write_participant_reports(out, config=config, force=True)
    page = _section((out / "sub-01.html").read_text(), "run-1-physio")
    assert "<img" not in page and "not given the raw BIDS dataset" in _text(page) and "RMSSD" in page
