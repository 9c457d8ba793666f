"""Participant pipeline: complete derivatives, failure isolation, resume, interruption, worker death."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from neurokit.config import Config
from neurokit.io import completed_runs, read_failures
from neurokit.pipelines import participant as pp
from neurokit.run import MEAN_IMAGE_VOLUMES, compute_run

pytestmark = pytest.mark.slow

BROKEN = ("corrupt_gzip", "confounds_length", "missing_tr")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from neurokit.simulate import simulate_dataset

    root = tmp_path_factory.mktemp("sim") / "bids"
    simulate_dataset(root, n_subjects=4, n_volumes=60, seed=3, broken_runs=BROKEN)
    return root


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def config():
    # the defaults, for 60-volume runs: fewer volumes and degrees of freedom required
    return Config().updated({"denoise.min_volumes": 30, "exclusion.min_tdof": 10})


@pytest.fixture(scope="module")
def reference(dataset, client, config, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    summary = pp.run_participant(dataset, out, config, client=client, progress=False)
    return out, summary


def _good_runs(dataset):
    """Discovered runs whose BOLD decompresses (discovery cannot see a corrupt gzip stream)."""
    import gzip
    import zlib

    from neurokit.io import discover_runs

    good = []
    for run in discover_runs(dataset).runs:
        try:
            with gzip.open(run.bold) as handle:
                while handle.read(1 << 20):
                    pass
        except (OSError, EOFError, zlib.error):
            continue
        good.append(run)
    return good


def _snapshot(out: Path) -> dict[str, bytes]:
    """Every output file's content, with volatile fields (timings, absolute paths) removed."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if path.is_dir() or rel.startswith(("logs/participant-", "logs/reports/")) or rel.endswith(".html"):
            continue
        data = path.read_bytes()
        if path.suffix == ".json":
            doc = json.loads(data)
            for key in ("ProcessingSeconds", "seconds"):
                doc.pop(key, None)
            data = json.dumps(doc, sort_keys=True).encode()
        files[rel] = data.replace(str(out).encode(), b"OUT")
    return files


def test_outputs_complete_and_failures_listed(dataset, reference):
    out, summary = reference
    good = _good_runs(dataset)
    assert summary.n_ok + summary.n_excluded == len(good) == 4
    assert summary.n_failed == len(BROKEN)
    assert pp.exit_code(summary) == 1
    failures = read_failures(out)
    assert len(failures) == len(BROKEN)
    stages = dict(zip(failures["message"].str.contains("truncated or corrupt"), failures["stage"]))
    assert stages[True] == "extract"
    assert set(failures["stage"]) == {"extract", "discover"}
    assert failures["message"].str.contains("rows but the BOLD run has").any()
    assert failures["message"].str.contains("repetition time").any()
    for record in completed_runs(out):
        for key, path in record["outputs"].items():
            assert Path(path).is_file(), key
        assert {"timeseries", "relmat:correlation", "relmat:partial correlation", "qc"} <= set(record["outputs"])
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    # the participant level's dataset carries the hash its runs' sidecars carry
    assert description["ParticipantConfigHash"] == Config().updated(
        {"denoise.min_volumes": 30, "exclusion.min_tdof": 10}).run_hash()
    sidecar = json.loads(next(out.rglob("*_relmat.json")).read_text())
    assert sidecar["ParticipantConfigHash"] == description["ParticipantConfigHash"] and "ConfigHash" not in sidecar
    assert (out / "config.yaml").read_text() == Config().updated(
        {"denoise.min_volumes": 30, "exclusion.min_tdof": 10}).to_yaml()
    assert not list(out.rglob("*.neurokit-tmp"))


def test_qc_records_every_exclusion_rule(reference):
    out, _ = reference
    for record in completed_runs(out):
        qc = json.loads(Path(record["outputs"]["qc"]).read_text())
        checks = {c["key"]: c for c in qc["ExclusionChecks"]}
        assert set(checks) == {"exclusion.max_mean_fd", "exclusion.max_censored_fraction", "denoise.min_volumes",
                               "exclusion.min_tdof"}
        assert checks["exclusion.max_mean_fd"]["value"] == pytest.approx(qc["mean_fd"], abs=1e-4)
        assert checks["exclusion.min_tdof"]["value"] == qc["tDOFRemaining"]
        failed = [c["reason"] for c in qc["ExclusionChecks"] if c["passed"] is False]
        assert failed == qc["ExclusionReasons"]
        assert (record["status"] == "excluded") == bool(failed)


def test_pybids_indexes_the_derivatives(reference):
    import bids

    out, summary = reference
    layout = bids.BIDSLayout(out, validate=False, is_derivative=True)
    relmats = layout.get(suffix="relmat", extension=".tsv")
    assert len(relmats) == 2 * summary.n_ok  # correlation + partial correlation per usable run
    assert {f.entities["segmentation"] for f in relmats} == {"pfclimbic"}
    assert len(layout.get(suffix="timeseries", extension=".tsv", desc="scrubbingGsr")) == summary.n_ok
    assert len(layout.get_subjects()) == 4


def test_values_equal_nilearn(dataset, reference, config):
    """End to end: the written time series equal nilearn's masker + load_confounds_strategy."""
    from nilearn.interfaces.fmriprep import load_confounds_strategy
    from nilearn.maskers import NiftiLabelsMasker

    from neurokit.atlases import check_coverage, load

    out, _ = reference
    record = completed_runs(out)[0]
    bold = record["inputs"]["bold"]
    img = nib.load(bold)
    mask = nib.load(record["inputs"]["mask"])
    coverage = check_coverage(load("pfclimbic"), img.affine, img.shape, np.asarray(mask.dataobj) > 0)
    labels = nib.Nifti1Image(coverage.labels.astype(np.int32), img.affine)
    # the default strategy, scrubbing+gsr with a high-pass only
    confounds, sample_mask = load_confounds_strategy(bold, denoise_strategy="scrubbing", global_signal="basic")
    masker = NiftiLabelsMasker(
        labels, mask_img=mask, standardize="zscore_sample", detrend=True, low_pass=None, high_pass=0.01,
        t_r=record["inputs"]["t_r"],
    )
    expected = masker.fit_transform(img, confounds=confounds, sample_mask=sample_mask)
    ours = pd.read_csv(record["outputs"]["timeseries"], sep="\t").to_numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    matrix = pd.read_csv(record["outputs"]["relmat:correlation"], sep="\t").to_numpy()
    from nilearn.connectome import ConnectivityMeasure
    from sklearn.covariance import ShrunkCovariance

    # the default covariance estimator: a fixed shrinkage of 0.1 (docs/denoising.md)
    estimator = ShrunkCovariance(shrinkage=0.1)
    reference_matrix = ConnectivityMeasure(kind="correlation", cov_estimator=estimator).fit_transform([expected])[0]
    np.testing.assert_allclose(matrix, reference_matrix, atol=1e-4)


def test_rerun_does_no_work_and_changed_input_is_recomputed(dataset, reference, client, config, tmp_path):
    out, _ = reference
    work = tmp_path / "out"
    shutil.copytree(out, work)
    # the copied records point at the reference folder; a rerun in place is what matters
    summary = pp.run_participant(dataset, out, config, client=client, progress=False)
    assert summary.n_skipped == 4 and summary.n_ok + summary.n_excluded == 4
    assert summary.n_failed == len(BROKEN)  # still listed in failures.tsv ...
    assert summary.n_failed_before == 1  # ... but the corrupt run is not decompressed again
    assert len(read_failures(out)) == len(BROKEN)
    retried = pp.run_participant(dataset, out, config, client=client, progress=False, retry_failed=True)
    assert retried.n_failed_before == 0 and retried.n_failed == len(BROKEN)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.tsv") if p.name != "failures.tsv"}

    run = _good_runs(dataset)[1]
    stat = run.confounds.stat()
    os.utime(run.confounds, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    summary = pp.run_participant(dataset, out, config, client=client, progress=False)
    assert summary.n_skipped == 3
    changed = {p for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed and all(run.run_id.split("_space")[0] in p.name for p in changed)


def test_truncated_or_missing_output_redoes_its_run(dataset, reference, client, config, tmp_path):
    out, _ = reference
    work = tmp_path / "out"
    shutil.copytree(out, work)
    truncated, deleted = sorted(work.rglob("*_relmat.tsv"))[0], sorted(work.rglob("*_timeseries.tsv"))[-1]
    original = truncated.read_bytes()
    # what a machine crash could leave of a file whose data had not reached the disk yet
    truncated.write_bytes(original[: len(original) // 2])
    deleted.unlink()
    summary = pp.run_participant(dataset, work, config, client=client, progress=False)
    assert summary.n_skipped == 2 and summary.n_ok + summary.n_excluded == 4
    assert truncated.read_bytes() == original
    assert deleted.is_file()


def test_config_change_and_overwrite_recompute(dataset, reference, client, config, tmp_path):
    out, _ = reference
    work = tmp_path / "out"
    pp.run_participant(dataset, work, config, client=client, progress=False)
    summary = pp.run_participant(dataset, work, config, client=client, progress=False, overwrite=True)
    assert summary.n_skipped == 0
    gsr = config.updated({"denoise.strategy": "simple+gsr"})
    summary = pp.run_participant(dataset, work, gsr, client=client, progress=False)
    assert summary.n_skipped == 0
    names = [p.name for p in work.rglob("*_relmat.tsv")]
    assert names and all("desc-simpleGsr" in n for n in names), "outputs of the old strategy are removed"


def test_region_empty_in_mask_fails_that_run_only(dataset, client, config, tmp_path):
    data = tmp_path / "bids"
    shutil.copytree(dataset, data)
    run = _good_runs(data)[0]
    mask = nib.load(run.mask)
    arr = np.asarray(mask.dataobj).copy()
    arr[:, :, : arr.shape[2] // 2] = 0  # the lower half of the brain (amygdala, hippocampus...) is gone
    nib.save(nib.Nifti1Image(arr, mask.affine, mask.header), run.mask)
    summary = pp.run_participant(data, tmp_path / "out", config, client=client, progress=False)
    failures = read_failures(tmp_path / "out")
    row = failures[failures["run_id"] == run.run_id].iloc[0]
    assert row["stage"] == "atlas" and row["error_type"] == "AtlasError"
    assert summary.n_ok + summary.n_excluded == 3


def test_failed_task_is_retried_once(dataset, client, config, tmp_path, monkeypatch):
    attempts = tmp_path / "attempts"
    attempts.mkdir()

    real = pp.process_run

    def flaky(run, atlas, config, output_dir, fingerprint):
        marker = attempts / run.run_id
        if not marker.exists():
            marker.write_text("1")
            raise OSError("transient network filesystem hiccup")
        return real(run, atlas, config, output_dir, fingerprint)

    monkeypatch.setattr(pp, "process_run", flaky)
    summary = pp.run_participant(dataset, tmp_path / "out", config, client=client, progress=False)
    assert summary.n_ok + summary.n_excluded == 4
    assert len(list(attempts.iterdir())) >= 4


def _cli(dataset, out, *extra):
    cmd = [sys.executable, "-m", "neurokit", str(dataset), str(out), "participant", "--no-progress",
           "--n-workers", "1", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_batch_resumes_to_identical_outputs(dataset, reference, tmp_path, sig):
    ref_out, _ = reference
    out = tmp_path / "out"
    config = tmp_path / "c.yaml"
    config.write_text("denoise:\n  min_volumes: 30\nexclusion:\n  min_tdof: 10\n")
    proc = _cli(dataset, out, "--config", str(config))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((out / "logs" / "runs").glob("*.json")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read().decode()
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, sig)  # the whole process group: workers die too
    else:
        proc.send_signal(sig)
    proc.wait(timeout=60)
    partial = len(completed_runs(out))
    assert 1 <= partial < 4 or sig == signal.SIGINT
    rerun = _cli(dataset, out, "--config", str(config))
    output = rerun.communicate(timeout=300)[0].decode()
    assert rerun.returncode == 1, output  # broken runs remain broken
    assert not list(out.rglob("*.neurokit-tmp"))
    ours, theirs = _snapshot(out), _snapshot(ref_out)
    assert set(ours) == set(theirs)
    for name in ours:
        if name.startswith(("logs/runs/", "logs/failed/")) or name in ("failures.tsv", "config.yaml"):
            continue  # absolute input paths; config.yaml also records --n-workers
        assert ours[name] == theirs[name], name


_WORKER_DEATH = """
import os, sys
from pathlib import Path

from neurokit.atlases import load
from neurokit.config import ClusterConfig, load_config
from neurokit.io import completed_runs, discover_runs, input_fingerprint
from neurokit.parallel import cluster_client
from neurokit.pipelines import participant as pp

dataset, config_file, markers, out, *run_ids = sys.argv[1:]
config = load_config(config_file)
runs = [r for r in discover_runs(dataset).runs if r.run_id in run_ids]
victim = run_ids[0]


def die_once(run, atlas, config, output_dir, fingerprint):
    marker = Path(markers) / run.run_id
    if run.run_id == victim and not marker.exists():
        marker.write_text("died")
        os._exit(1)  # like the OOM killer: the worker process vanishes mid-task
    return pp.process_run(run, atlas, config, output_dir, fingerprint)


if __name__ == "__main__":
    fps = {r.run_id: input_fingerprint(r, config.run_hash()) for r in runs}
    summary = pp.ParticipantSummary()
    with cluster_client(ClusterConfig(n_workers=2), dashboard=False, log=lambda _: None) as c:
        pp._compute(runs, load("pfclimbic"), config, Path(out), fps, summary, c, False, task=die_once)
    assert summary.failures == [], summary.failures
    assert sorted(r["run_id"] for r in completed_runs(out)) == sorted(run_ids)
    print("ok")
"""


def test_worker_death_loses_no_result(dataset, config, tmp_path):
    # in a fresh interpreter, as a real run is: one client per process (this module's in-process
    # test client would otherwise share distributed's event-loop machinery with the cluster here)
    markers = tmp_path / "markers"
    markers.mkdir()
    runs = _good_runs(dataset)[:2]
    script, config_file = tmp_path / "worker_death.py", tmp_path / "config.yaml"
    script.write_text(_WORKER_DEATH)
    config_file.write_text(config.to_yaml())
    done = subprocess.run([sys.executable, str(script), str(dataset), str(config_file), str(markers),
                           str(tmp_path / "out"), *(r.run_id for r in runs)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr
    assert [p.name for p in markers.iterdir()] == [runs[0].run_id]  # its worker really died once


def test_reports_render_on_the_cluster_as_each_participant_finishes(dataset, client, config, tmp_path,
                                                                      monkeypatch):
    from neurokit.io import discover_runs

    runs = discover_runs(dataset).runs
    first, last = str(runs[0].entity_dict["sub"]), runs[-1]
    assert str(last.entity_dict["sub"]) != first
    out, seen = tmp_path / "out", tmp_path / "seen"
    process_run = pp.process_run

    def last_waits_for_first_report(run, atlas, config, output_dir, fingerprint):
        # the batch's last run starts only once the first participant's page exists (or a minute
        # has passed): with reports written after the batch, it never would
        if run.run_id == last.run_id:
            page, deadline = Path(output_dir) / f"sub-{first}.html", time.monotonic() + 60
            while not page.is_file() and time.monotonic() < deadline:
                time.sleep(0.1)
            seen.write_text(f"first report before the last run: {page.is_file()}")  # tasks run on a copy
        return process_run(run, atlas, config, output_dir, fingerprint)

    monkeypatch.setattr(pp, "process_run", last_waits_for_first_report)
    summary = pp.run_participant(dataset, out, config, client=client, progress=False, reports=True)
    monkeypatch.undo()
    assert seen.read_text() == "first report before the last run: True"
    pages = sorted(out.glob("sub-*.html"))
    assert [p.name for p in pages] == ["sub-01.html", "sub-02.html", "sub-03.html", "sub-04.html"]
    assert summary.reports == [str(p) for p in pages] and summary.report_failures == []
    assert (summary.n_reports_rendered, summary.n_reports_up_to_date) == (4, 0)
    assert "failed in stage" in "".join(p.read_text() for p in pages)  # the broken runs have their sections

    # nothing changed: no page rendered again (not a byte rewritten)
    times = {p: p.stat().st_mtime_ns for p in pages}
    summary = pp.run_participant(dataset, out, config, client=client, progress=False, reports=True)
    assert (summary.n_skipped, summary.n_reports_rendered, summary.n_reports_up_to_date) == (4, 0, 4)
    assert {p: p.stat().st_mtime_ns for p in pages} == times

    # one run's input changed: its outputs are recomputed, and its participant's page only
    run = _good_runs(dataset)[1]
    stat = run.confounds.stat()
    os.utime(run.confounds, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        summary = pp.run_participant(dataset, out, config, client=client, progress=False, reports=True)
    finally:  # the dataset is shared: the reference outputs stay up to date for the tests after this one
        os.utime(run.confounds, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (summary.n_reports_rendered, summary.n_reports_up_to_date) == (1, 3)
    changed = [p.name for p in pages if p.stat().st_mtime_ns != times[p]]
    assert changed == [f"sub-{run.entity_dict['sub']}.html"]


def test_a_failing_report_is_reported_and_the_batch_goes_on(dataset, reference, client, config, tmp_path,
                                                             monkeypatch, caplog):
    from neurokit.report import _participant

    write_one = _participant._write_one

    def broken(subject, runs, fingerprint, context):
        if subject == "02":
            raise RuntimeError("no room left on the page")
        return write_one(subject, runs, fingerprint, context)

    monkeypatch.setattr(_participant, "_write_one", broken)
    out = tmp_path / "out"
    summary = pp.run_participant(dataset, out, config, client=client, progress=False, reports=True)
    assert summary.report_failures == [
        {"subject": "02", "error_type": "RuntimeError", "message": "no room left on the page"}]
    assert "the report of sub-02 failed: RuntimeError: no room left on the page" in caplog.text
    assert summary.n_reports_rendered == 3 and not (out / "sub-02.html").exists()
    _, ref = reference  # every run done as without reports, with the same outcome
    assert (summary.n_ok, summary.n_excluded, summary.n_failed) == (ref.n_ok, ref.n_excluded, ref.n_failed)
    assert pp.exit_code(summary) == pp.exit_code(ref)

    monkeypatch.undo()  # fixed: the next invocation renders the missing page only
    summary = pp.run_participant(dataset, out, config, client=client, progress=False, reports=True)
    assert (summary.n_reports_rendered, summary.n_reports_up_to_date, summary.report_failures) == (1, 3, [])
    assert (out / "sub-02.html").is_file()


def test_exit_codes():
    ok = {"status": "ok"}
    assert pp.exit_code(pp.ParticipantSummary(records=[ok])) == 0
    assert pp.exit_code(pp.ParticipantSummary(records=[ok], n_failed=1)) == 1
    assert pp.exit_code(pp.ParticipantSummary(records=[], n_failed=3)) == 2
    assert pp.exit_code(pp.ParticipantSummary(records=[{"status": "excluded"}])) == 2


def test_moved_results_stay_valid(dataset, reference, client, config, tmp_path):
    """Completion records hold paths relative to the results folder: a copy is complete and current."""
    out, _ = reference
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    summary = pp.run_participant(dataset, moved, config, client=client, progress=False)
    assert summary.n_skipped == 4
    for record in completed_runs(moved):
        assert all(Path(p).is_relative_to(moved) and Path(p).is_file() for p in record["outputs"].values())


def test_atlas_in_another_space_fails_before_any_work(dataset, client, config, tmp_path, colin_atlas):
    from neurokit.atlases import AtlasError

    with pytest.raises(AtlasError, match="is in space 'MNIColin27' but the run is in 'MNI152NLin2009cAsym'"):
        pp.run_participant(dataset, tmp_path / "out", config.updated({"atlas.name": str(colin_atlas)}),
                           client=client, progress=False)
    assert not (tmp_path / "out").exists()


def test_atlas_folder_path_is_resolved_to_the_atlas_name(dataset, client, config, tmp_path):
    from neurokit.atlases import bundled_root
    from neurokit.pipelines.group import build_features

    folder = tmp_path / "lab atlases" / "v2"
    shutil.copytree(bundled_root() / "pfclimbic-spheres", folder)
    one = config.updated({"atlas.name": str(folder), "inputs.participant_label": ["02"]})
    summary = pp.run_participant(dataset, tmp_path / "out", one, client=client, progress=False)
    assert summary.n_ok >= 1
    written = [p.name for p in (tmp_path / "out").rglob("*_relmat.tsv")]
    # the seg- label is the atlas's name (atlas.json), not a label made from the folder path
    assert written and all("_seg-pfclimbicSpheres_" in name for name in written)
    assert {r["outputs"]["qc"] and json.loads(Path(r["outputs"]["qc"]).read_text())["Atlas"]
            for r in completed_runs(tmp_path / "out")} == {"pfclimbic-spheres"}
    # the group level and predict take the recorded name, which a model then carries
    features, _, _ = build_features(tmp_path / "out", one)
    assert features.attrs["atlas"] == "pfclimbic-spheres"


def test_too_few_degrees_of_freedom_excludes_with_reason(dataset, client, config, tmp_path):
    strict = config.updated({"exclusion.min_tdof": 1000, "inputs.participant_label": ["01"]})
    summary = pp.run_participant(dataset, tmp_path / "out", strict, client=client, progress=False)
    assert summary.n_excluded == 1 and summary.n_ok == 0
    failures = read_failures(tmp_path / "out")
    excluded = failures[failures["status"] == "excluded"]
    assert excluded["message"].str.contains("degrees of freedom|tDOF|tdof", regex=True).all()


def test_report_underlay_is_fmriprep_boldref_or_a_computed_mean(dataset, config, tmp_path):
    from dataclasses import replace

    from neurokit.atlases import load
    from neurokit.io import input_fingerprint, read_completion
    from neurokit.report._participant import _atlas_blocks

    with_ref, without, wrong = _good_runs(dataset)[:3]
    assert with_ref.boldref is not None and with_ref.boldref.is_file()  # fMRIPrep (and the simulator) write one
    other_grid = tmp_path / "cropped_boldref.nii.gz"
    img = nib.load(wrong.boldref)
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj)[:-1], img.affine), other_grid)
    cases = {"ref": with_ref, "none": replace(without, boldref=None), "wrong": replace(wrong, boldref=other_grid)}
    atlas, out = load(config.atlas.name), tmp_path / "out"
    records = {key: pp.process_run(run, atlas, config, str(out), input_fingerprint(run, config.run_hash()))
               for key, run in cases.items()}
    qc = {key: json.loads((out / rec["outputs"]["qc"]).read_text()) for key, rec in records.items()}

    assert "mean" not in records["ref"]["outputs"]
    assert records["ref"]["inputs"]["boldref"] == str(with_ref.boldref)
    # no DatasetLinks recorded (process_run alone): relative to the results, never a machine path
    assert qc["ref"]["ReferenceImage"] == Path(os.path.relpath(with_ref.boldref, out)).as_posix()
    assert qc["ref"]["MeanImageVolumes"] is None
    for key in ("none", "wrong"):
        run, record = cases[key], records[key]
        assert record["inputs"]["boldref"] is None and qc[key]["ReferenceImage"] is None
        volumes = qc[key]["MeanImageVolumes"]
        assert len(volumes) == MEAN_IMAGE_VOLUMES and volumes[0] == 0 and volumes[-1] == run.n_volumes - 1
        expected = nib.load(run.bold).get_fdata()[..., volumes].mean(-1)
        np.testing.assert_allclose(nib.load(out / record["outputs"]["mean"]).get_fdata(), expected, atol=1e-3)
    assert any("cropped_boldref.nii.gz is on grid" in note for note in qc["wrong"]["ConfoundNotes"])

    # the report draws the atlas over whichever underlay the run has, and says which
    captions = {}
    for key, record in records.items():
        full = read_completion(out / "logs" / "runs" / f"{record['run_id']}.json", out)
        [figure] = [b for b in _atlas_blocks(full, qc[key], atlas, None) if b.kind == "figure"][:1]
        captions[key] = figure.caption
    assert "fMRIPrep's reference image (boldref)" in captions["ref"]
    assert f"({MEAN_IMAGE_VOLUMES} evenly spaced volumes averaged)" in captions["none"]
    gone = read_completion(out / "logs" / "runs" / f"{records['ref']['run_id']}.json", out)
    gone["inputs"]["boldref"] = str(tmp_path / "deleted_boldref.nii.gz")
    notes = [b.text for b in _atlas_blocks(gone, qc["ref"], atlas, None) if b.kind == "note"]
    assert any("deleted_boldref.nii.gz is missing" in text for text in notes)


def test_qc_coverage_counts_voxels_that_lose_their_signal(dataset, config, tmp_path):
    from dataclasses import replace

    from neurokit.atlases import load
    from neurokit.io import input_fingerprint
    from neurokit.report._participant import _region_quality_blocks

    run = _good_runs(dataset)[0]
    atlas = load(config.atlas.name)
    img = nib.load(run.bold)
    data = np.asanyarray(img.dataobj).copy()
    mask = np.asanyarray(nib.load(run.mask).dataobj) > 0
    labels = atlas.labels_on_grid(img.affine, img.shape)
    region = atlas.regions.iloc[0]
    voxels = np.argwhere((labels == region["index"]) & mask)
    dead = voxels[: len(voxels) // 2]
    data[tuple(dead.T)] = 0  # constant over time, e.g. signal dropout outside the acquired slab
    bold = tmp_path / run.bold.name
    nib.save(nib.Nifti1Image(data, img.affine, img.header), bold)
    out = tmp_path / "out"
    record = pp.process_run(replace(run, bold=bold), atlas, config, str(out), input_fingerprint(run, "x"))
    qc = json.loads((out / record["outputs"]["qc"]).read_text())
    entry = qc["RegionCoverage"]["regions"][region["name"]]
    assert entry["n_voxels"] == len(voxels)
    assert entry["n_usable"] == len(voxels) - len(dead)
    assert entry["usable_fraction"] == pytest.approx(entry["fraction"] * entry["n_usable"] / entry["n_voxels"], abs=1e-3)
    assert qc["ExcludedVoxels"][str(region["index"])]["constant"] == len(dead)
    other = qc["RegionCoverage"]["regions"][atlas.regions.iloc[1]["name"]]
    assert other["n_usable"] == other["n_voxels"]
    record["outputs"] = {k: str(out / v) for k, v in record["outputs"].items()}
    [figure] = [b for b in _region_quality_blocks(record, qc, atlas, 0.5, 0.5) if b.kind == "figure"]
    assert "with a usable signal" in figure.caption


def _process(run, config, out):
    from neurokit.atlases import load

    return pp.process_run(run, load(config.atlas.name), config, str(out), "fp")


def test_several_strategies_extract_once_and_equal_single_strategy_runs(dataset, config, tmp_path, monkeypatch):
    import neurokit.extract
    from neurokit.io import outputs_intact, read_completion, record_for_strategy

    calls = []
    extract = neurokit.extract.extract_signals
    monkeypatch.setattr(neurokit.extract, "extract_signals", lambda *a, **k: calls.append(1) or extract(*a, **k))
    # scrubbing at FD 0.01 mm censors nearly every volume: excluded there, kept with 'simple'
    multi = config.updated({"denoise.strategy": ["simple", "scrubbing", "simple+gsr"], "denoise.fd_threshold": 0.01})
    run = _good_runs(dataset)[0]
    record = _process(run, multi, tmp_path / "multi")
    assert len(calls) == 1
    assert record["status"] == "ok" and record["strategy"] == "simple"
    kept, excluded = record["strategies"]["simple"], record["strategies"]["scrubbing"]
    assert kept["status"] == "ok" and kept["reasons"] == []
    assert excluded["status"] == "excluded" and "censored" in " ".join(excluded["reasons"])

    stored = read_completion(pp.DerivativeNames(tmp_path / "multi", run, "pfclimbic", "simple").completion(),
                             tmp_path / "multi")
    assert outputs_intact(stored)
    qc = json.loads(Path(stored["outputs"]["qc"]).read_text())
    assert qc["Strategy"] == "simple" and not qc["Excluded"]
    assert set(qc["Strategies"]) == {"simple", "scrubbing", "simple+gsr"}
    assert qc["Strategies"]["scrubbing"]["Excluded"] and qc["Strategies"]["scrubbing"]["ExclusionReasons"]
    assert qc["Strategies"]["simple"]["tDOFRemaining"] == qc["tDOFRemaining"]
    assert len(qc["Strategies"]["scrubbing"]["CensoredVolumes"]) > len(qc["CensoredVolumes"])
    assert qc["Strategies"]["scrubbing"]["StrategyDetails"]["strategy"] == "scrubbing"

    for strategy in ("simple", "scrubbing", "simple+gsr"):
        single = config.updated({"denoise.strategy": strategy, "denoise.fd_threshold": 0.01})
        _process(run, single, tmp_path / strategy)
        alone = read_completion(pp.DerivativeNames(tmp_path / strategy, run, "pfclimbic", strategy).completion(),
                                tmp_path / strategy)
        view = record_for_strategy(stored, strategy)
        assert view["status"] == alone["status"] and view["reasons"] == alone["reasons"]
        assert set(view["outputs"]) == set(alone["outputs"])
        for key, path in alone["outputs"].items():
            ours, theirs = Path(view["outputs"][key]), Path(path)
            if key == "qc":
                continue
            if key.startswith("physio"):  # the run's physiology, whatever the strategies
                assert ours.read_bytes() == theirs.read_bytes(), (strategy, key)
                continue
            if ours.suffix == ".json":  # the same but for the configuration hash
                ours, theirs = (json.loads(f.read_text()) for f in (ours, theirs))
                assert ours.pop("ParticipantConfigHash") != theirs.pop("ParticipantConfigHash")
                if key.startswith("timeseries_raw") and strategy != "simple":  # it describes the modelled one
                    for doc in (ours, theirs):
                        doc.pop("Strategy"), doc.pop("StrategyDetails")
                assert ours == theirs, (strategy, key)
            else:  # the same bytes, whether cleaned alone or beside another strategy
                assert ours.read_bytes() == theirs.read_bytes(), (strategy, key)
    assert len(stored["strategies"]["simple+gsr"]["outputs"]) == 6  # time series, 2 matrices, their sidecars
    assert not list((tmp_path / "multi").rglob("*desc-scrubbing_*")), "an uncleanable strategy writes no matrices"
    assert record_for_strategy(stored, "compcor") is None


def test_changed_strategy_list_recomputes_and_removes_dropped_outputs(dataset, client, config, tmp_path):
    both = config.updated({"denoise.strategy": ["simple", "simple+gsr"], "inputs.participant_label": ["01"]})
    pp.run_participant(dataset, tmp_path, both, client=client, progress=False)
    assert len(list(tmp_path.rglob("*desc-simpleGsr*_relmat.tsv"))) == 2
    assert pp.run_participant(dataset, tmp_path, both, client=client, progress=False).n_skipped == 1
    one = both.updated({"denoise.strategy": ["simple"]})
    summary = pp.run_participant(dataset, tmp_path, one, client=client, progress=False)
    assert summary.n_skipped == 0 and summary.n_ok == 1
    assert not list(tmp_path.rglob("*desc-simpleGsr*")), "outputs of a strategy no longer listed are removed"


def test_compute_run_writes_nothing_and_write_run_writes_what_process_run_does(dataset, config, tmp_path,
                                                                               monkeypatch):
    from neurokit.atlases import load
    from neurokit.io import DerivativeNames, RunQC, RunRecord, input_fingerprint

    run = _good_runs(dataset)[0]
    atlas = load(config.atlas.name)
    multi = config.updated({"denoise.strategy": ["simple", "scrubbing"]})
    before = sorted(p for p in dataset.rglob("*"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # a stray relative write would land here
    result = compute_run(run, atlas, multi, bids_dir=dataset)
    assert sorted(p for p in dataset.rglob("*")) == before and not any(cwd.iterdir())

    assert result.primary == multi.modelled_strategy and list(result.strategies)[0] == result.primary
    assert result.signals.shape == (run.n_volumes, len(result.region_names))
    assert isinstance(result.qc, RunQC) and result.qc.processing_seconds is None
    assert set(result.qc.strategies) == {"simple", "scrubbing"}
    assert result.modelled.matrices["correlation"].shape == (len(result.region_names),) * 2

    fp = input_fingerprint(run, multi.run_hash())
    names = DerivativeNames(tmp_path / "split", run, atlas.name, result.primary)
    record = pp.write_run(names, result, multi, fp)
    assert isinstance(record, RunRecord) and RunRecord.read(names.completion()) == record
    whole = pp.process_run(run, atlas, multi, str(tmp_path / "whole"), fp, bids_dir=str(dataset))

    def untimed(data):  # the QC file's size follows the digits of its ProcessingSeconds
        return {**data, "seconds": None, "output_bytes": {**data["output_bytes"], "qc": None},
                "physio": {**data["physio"], "seconds": None}}

    assert untimed(whole) == untimed(record.to_dict())
    for key, rel in record.outputs.items():
        ours, theirs = (tmp_path / "split" / rel).read_bytes(), (tmp_path / "whole" / rel).read_bytes()
        if key == "qc":  # the only timing in the files
            ours, theirs = (RunQC.from_dict(json.loads(t)) for t in (ours, theirs))
            ours.processing_seconds = theirs.processing_seconds
        assert ours == theirs, key
