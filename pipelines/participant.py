"""Participant level: extract -> denoise -> connectivity -> QC, physiology -> write, one dask task per run.

Each task (:func:`process_run`) is :func:`neurokit.run.compute_run`, which reads the run's
inputs and computes everything in memory (a function of run, atlas and resolved config,
writing nothing), then :func:`write_run`, which writes the derivatives through the typed
records of :mod:`neurokit.io` (completion record last). The graph is submitted once and results
stream back as they finish. A run that raises is retried,
then recorded in ``failures.tsv``; the batch goes on.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from neurokit import __version__
from neurokit.config import Config
from neurokit.io import Run
from neurokit.io import (
    DerivativeNames,
    FAILURE_COLUMNS,
    FailureRow,
    RunRecord,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    atomic_write_tsv,
    bids_uri,
    completed_runs,
    dataset_links,
    find_physio,
    input_fingerprint,
    outputs_intact,
    read_completion,
    read_dataset_links,
    remove_temporaries,
    strategy_output_key,
    write_atlas_files,
    write_dataset_description,
    write_failures,
    write_physio,
)
from neurokit.run import RunFailure, RunResult, compute_run
from neurokit.run._compute import _nifti_bytes
from neurokit.run._stage import _Stage

__all__ = ["ParticipantSummary", "write_run", "process_run", "run_participant", "exit_code"]

log = logging.getLogger("neurokit.participant")


def write_run(names: DerivativeNames, result: RunResult, config: Config, fingerprint: str) -> RunRecord:
    """Write a computed run's derivatives; the completion record is written last.

    Outputs differ by ``desc-<strategy>``; the QC JSON's top-level keys and the record's
    ``status``, ``reasons``, ``summary`` and plain output keys describe the modelled strategy;
    with several strategies the QC JSON has a ``Strategies`` block and the record a
    ``strategies`` block (read one with :meth:`neurokit.io.RunRecord.for_strategy`).

    Parameters
    ----------
    names : DerivativeNames
        The run's paths (its ``output_dir`` is the derivative root; the modelled strategy).
    result : neurokit.run.RunResult
        From :func:`neurokit.run.compute_run`.
    config : Config
        The resolved configuration it was computed with.
    fingerprint : str
        Hash of the inputs and configuration, stored in the completion record.

    Returns
    -------
    RunRecord
        The completion record written (outputs relative to the derivative root).

    Raises
    ------
    RunFailure
        In the stage ``write``.
    """
    started = time.perf_counter()
    run, primary, done = result.run, result.primary, result.modelled
    region_names = result.region_names
    root = Path(names.output_dir)
    # provenance as BIDS URIs through the DatasetLinks run_participant recorded: no machine paths
    links = read_dataset_links(root)
    uri = functools.partial(bids_uri, links=links, output_dir=root)
    # ``tangent`` needs a group reference: a run stores its covariance (config.per_run_kinds)
    # and the group level projects it inside each cross-validation fold.
    outputs: dict[str, str] = {}
    with _Stage("write"):
        sidecar = {
            "Atlas": result.atlas_name,
            "AtlasSpace": result.atlas_space,
            "Strategy": primary,
            "StrategyDetails": done.selection.strategy,
            "RepetitionTime": run.t_r,
            "Regions": region_names,
            "Networks": result.networks,
            "Sources": [uri(run.bold), uri(run.confounds), uri(run.mask)],
            "SoftwareVersions": dict(_versions()),
            "ParticipantConfigHash": config.run_hash(),  # what it covers: neurokit.io.HASH_DESCRIPTIONS
        }

        def table(key: str, path: Path, values: np.ndarray, extra: dict, meta: dict = sidecar,
                  into: dict = outputs) -> None:
            atomic_write_tsv(path, pd.DataFrame(values, columns=region_names))
            atomic_write_json(path.with_suffix(".json"), {**meta, **extra})
            into[key] = path.relative_to(root).as_posix()
            into[key + ":json"] = path.with_suffix(".json").relative_to(root).as_posix()

        table("timeseries_raw", names.raw_timeseries(), result.signals,
              {"Description": "Region mean signals before denoising."})
        if result.reference is None:  # no usable fMRIPrep boldref: the report's underlay is written here
            mean_img = nib.Nifti1Image(np.asarray(result.mean_image, dtype=np.float32), result.affine)  # no copy
            mean_img.header.set_xyzt_units("mm", "sec")
            atomic_write_bytes(names.mean_image(), _nifti_bytes(mean_img))
            outputs["mean"] = names.mean_image().relative_to(root).as_posix()
        per_strategy_outputs: dict[str, list[str]] = {}
        for strategy, denoised in result.strategies.items():
            own: dict[str, str] = {}
            if denoised.cleaned is not None:
                strategy_names = DerivativeNames(root, run, result.atlas_name, strategy)
                meta = {**sidecar, "Strategy": strategy, "StrategyDetails": denoised.selection.strategy}
                table("timeseries", strategy_names.timeseries(), denoised.cleaned.signals, {
                    "Description": "Denoised region signals (censored volumes removed).",
                    "SampleMask": [int(i) for i in denoised.cleaned.sample_mask],
                    "CensoredVolumes": [int(i) for i in denoised.selection.censored],
                    "tDOFLost": int(denoised.cleaned.tdof_lost),
                    "tDOFRemaining": int(denoised.cleaned.tdof_remaining),
                }, meta, own)
                for measure, matrix in denoised.matrices.items():
                    table(f"relmat:{measure}", strategy_names.relmat(measure), matrix, {
                        "Measure": measure,
                        "CovarianceEstimator": config.connectivity.covariance_estimator,
                        **({"Shrinkage": config.connectivity.shrinkage}
                           if config.connectivity.covariance_estimator == "shrunk" else {}),
                        "NodeNames": region_names,
                    }, meta, own)
            if strategy != primary:  # the modelled strategy keeps the keys a single-strategy run has
                own = {strategy_output_key(k, strategy): v for k, v in own.items()}
            outputs.update(own)
            per_strategy_outputs[strategy] = list(own)
        if result.physio is not None:  # every run gets one, an unusable one too: its reason is the record
            tsv, sidecar_path = write_physio(names, result.physio, links=links)
            outputs["physio"] = tsv.relative_to(root).as_posix()
            outputs["physio:json"] = sidecar_path.relative_to(root).as_posix()
        qc = replace(result.qc, reference_image=None if result.reference is None else uri(result.reference),
                     processing_seconds=round(result.seconds + time.perf_counter() - started, 3))
        qc.write(names)
        outputs["qc"] = names.qc().relative_to(root).as_posix()
        record = RunRecord(
            run_id=run.run_id,
            status="excluded" if done.excluded else "ok",
            reasons=list(done.reasons),
            fingerprint=fingerprint,
            config_hash=config.run_hash(),
            entities=dict(run.entities),
            bold=str(run.bold),
            inputs={
                "bold": str(run.bold),
                "confounds": str(run.confounds),
                "mask": str(run.mask),
                "boldref": None if result.reference is None else str(result.reference),
                "t_r": run.t_r,
            },
            outputs=outputs,
            summary=done.summary,
            mean_fd=done.motion.get("mean_fd"),
            seconds=qc.processing_seconds,
        )
        if result.physio is not None:  # for the batch's log lines and counts, without reading the QC JSON
            record.physio = {**qc.physio, "recording": [Path(s).name for s in result.physio.sources],
                             "seconds": round(result.physio_seconds, 4)}
        if len(result.strategies) > 1:
            record.strategy = primary
            record.strategies = {
                strategy: {"status": "excluded" if d.excluded else "ok", "reasons": list(d.reasons),
                           "summary": d.summary, "outputs": per_strategy_outputs[strategy]}
                for strategy, d in result.strategies.items()
            }
        record.write(names)
    return record


def process_run(run: Run, atlas, config: Config, output_dir: str, fingerprint: str,
                bids_dir: str | None = None) -> dict[str, Any]:
    """Compute one run (:func:`neurokit.run.compute_run`) and write its derivatives (:func:`write_run`): the dask task.

    Parameters
    ----------
    run : Run
        The run (from discovery).
    atlas : neurokit.atlases.Atlas
        The loaded atlas.
    config : Config
        The resolved configuration.
    output_dir : str
        Derivative dataset root.
    fingerprint : str
        Hash of the inputs and configuration, stored in the completion record.
    bids_dir : str, optional
        The raw BIDS dataset (where the physiological recordings are); default: the ``raw``
        link of ``output_dir``'s ``dataset_description.json``, which :func:`run_participant`
        writes before any run.

    Returns
    -------
    dict
        The completion record (:meth:`neurokit.io.RunRecord.to_dict`): run id, status (``ok``
        or ``excluded``), reasons, outputs (and per strategy, when there are several).

    Raises
    ------
    RunFailure
        Naming the stage (atlas, confounds, extract, denoise, connectivity, qc, write) and the cause.
    """
    result = compute_run(run, atlas, config, bids_dir=bids_dir if bids_dir is not None else _raw_dataset(output_dir))
    names = DerivativeNames(Path(output_dir), run, atlas.name, result.primary)
    return write_run(names, result, config, fingerprint).to_dict()


def _raw_dataset(output_dir: str | Path) -> str | None:
    """The raw dataset of a derivative dataset, through its ``DatasetLinks`` (None when none is recorded)."""
    raw = read_dataset_links(output_dir).get("raw")
    return None if raw is None else os.path.normpath(os.path.join(output_dir, raw))


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    import nilearn
    import scipy
    import sklearn

    return {
        "neurokit": __version__,
        "nibabel": nib.__version__,
        "nilearn": nilearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
    }


@dataclass
class ParticipantSummary:
    """What a participant-level invocation did.

    Attributes
    ----------
    n_found, n_skipped, n_ok, n_excluded, n_failed : int
        Runs discovered (incl. those with discovery problems), skipped as up to date,
        processed fine, excluded by QC rules, failed (now or before).
    n_failed_before : int
        Of the failed, those not retried: they failed before with the same inputs and configuration.
    failures : list of dict
        Rows of ``failures.tsv`` (failed and excluded runs, discovery problems).
    records : list of dict
        Completion records of every usable run (this invocation's and earlier ones').
    reports : list of str
        Participant reports that exist and are current (rendered now or already up to date),
        when the invocation asked for reports.
    n_reports_rendered, n_reports_up_to_date : int
        Of those, rendered by this invocation and skipped because nothing they show changed.
    report_failures : list of dict
        Reports that could not be rendered (``subject``, ``error_type``, ``message``); the runs
        they describe are not affected.
    n_physio_usable : int
        Completed runs with usable physiology (``desc-physio_metrics``); 0 when ``physio.enabled`` is false.
    physio_reasons : dict of str to int
        Completed runs without usable physiology, by reason code (``missing``, ``flat``, ...).
    physio_seconds : float or None
        Mean seconds the physiology step took per run computed by this invocation (None if none was).
    """

    n_found: int = 0
    n_skipped: int = 0
    n_ok: int = 0
    n_excluded: int = 0
    n_failed: int = 0
    n_failed_before: int = 0
    failures: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    n_reports_rendered: int = 0
    n_reports_up_to_date: int = 0
    report_failures: list[dict] = field(default_factory=list)
    n_physio_usable: int = 0
    physio_reasons: dict[str, int] = field(default_factory=dict)
    physio_seconds: float | None = None


def exit_code(summary: ParticipantSummary) -> int:
    """0 if every run is usable, 1 if some failed, 2 if no run is usable (failed or excluded)."""
    if not any(r.get("status") == "ok" for r in summary.records):
        return 2
    return 1 if summary.n_failed else 0


def _fingerprint(run: Run, config: Config, bids_dir: Path) -> str:
    """:func:`neurokit.io.input_fingerprint`, and the run's physiological recordings when physiology is
    measured: a recording added, replaced or given its sidecar later redoes the run."""
    fingerprint = input_fingerprint(run, config.run_hash())
    if not config.physio.enabled:
        return fingerprint
    parts = []
    for path in find_physio(bids_dir, run):  # none: the fingerprint of a run made before physiology
        for file in (path, path.with_name(path.name[: -len(".tsv.gz")] + ".json")):
            try:
                stat = file.stat()
            except OSError:
                parts.append(f"{file.name}:-")
                continue
            parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    if not parts:
        return fingerprint
    return hashlib.sha256("|".join([fingerprint, *parts]).encode()).hexdigest()[:20]


def _up_to_date(run: Run, names: DerivativeNames, fingerprint: str, physio: bool = False) -> bool:
    record = RunRecord.read(names.completion(), names.output_dir)
    if record is None or record.fingerprint != fingerprint:
        return False
    if physio and "physio" not in record.outputs:
        # made before the participant level measured physiology (its settings at the defaults
        # leave the configuration hash as it was): measured now, never silently left out
        return False
    return outputs_intact(record.to_dict())


def _remove_previous(names: DerivativeNames) -> None:
    record = RunRecord.read(names.completion(), names.output_dir)
    names.completion().unlink(missing_ok=True)
    for path in (record.outputs if record else {}).values():
        Path(path).unlink(missing_ok=True)


def _failure_path(output_dir: Path, run: Run) -> Path:
    """Record of a run that failed (its fingerprint and failures.tsv row)."""
    return Path(output_dir) / "logs" / "failed" / f"{run.run_id}.json"


def run_participant(
    bids_dir: str | Path,
    output_dir: str | Path,
    config: Config,
    *,
    client=None,
    overwrite: bool = False,
    retry_failed: bool = False,
    progress: bool | None = None,
    reports: bool = False,
) -> ParticipantSummary:
    """Run the participant level over every discovered run.

    Parameters
    ----------
    bids_dir : str or Path
        BIDS root (with ``derivatives/fmriprep`` or the folders in ``config.inputs.derivatives``).
    output_dir : str or Path
        Derivative dataset to write (created if needed).
    config : Config
        Resolved configuration (written to ``output_dir/config.yaml``).
    client : distributed.Client, optional
        Where to run; None starts a cluster from ``config.cluster`` for this call and closes it.
    overwrite : bool
        Recompute runs even when their outputs are complete and up to date.
    retry_failed : bool
        Retry runs that failed in an earlier invocation although their inputs and the
        configuration are unchanged (by default they are listed again, not recomputed).
    progress : bool or None
        Progress bar; None = only when stderr is a terminal (plain log lines otherwise).
    reports : bool
        Also write each participant's HTML report, as a task on the same cluster, as soon as
        all of that participant's runs are done (or failed); a report whose inputs did not
        change is not rendered again. A report that fails is logged and listed in
        ``summary.report_failures``; it never stops the batch.

    Returns
    -------
    ParticipantSummary

    Raises
    ------
    NeurokitError
        An input error (see :func:`neurokit.pipelines._preflight.check_participant_inputs`),
        raised before ``output_dir`` is created or changed. Everything logged from then on,
        warnings and the exception that ends the run included, also goes to
        ``output_dir/logs/participant-<YYYYmmdd-HHMMSS>.log``.
    """
    from neurokit.pipelines._preflight import check_participant_inputs, warn_participant_phenotype
    from neurokit.pipelines._runlog import level_log

    bids_dir, output_dir = Path(bids_dir), Path(output_dir)
    with level_log(output_dir, "participant") as run_log:
        # every input error is raised here, before the output folder is created or changed
        discovery, atlas = check_participant_inputs(bids_dir, output_dir, config)
        output_dir.mkdir(parents=True, exist_ok=True)
        run_log.start()
        warn_participant_phenotype(bids_dir, config)
        removed = remove_temporaries(output_dir)
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted run", len(removed))
        atomic_write_text(output_dir / "config.yaml", config.to_yaml())
        write_dataset_description(output_dir, config_hash=config.run_hash(),
                                  links=dataset_links(output_dir, bids_dir, config.inputs.derivatives))
        write_atlas_files(output_dir, atlas)
        summary = ParticipantSummary(n_found=len(discovery.runs) + len(discovery.problems))
        for problem in discovery.problems:
            log.warning("%s", problem.message)
            summary.failures.append(FailureRow.failed(problem.run_id, problem.stage, "DiscoveryProblem",
                                                      problem.message, problem.path).to_dict())
        todo, fingerprints = [], {}
        for run in discovery.runs:
            names = DerivativeNames(output_dir, run, atlas.name, config.denoise.strategy)
            fingerprints[run.run_id] = fp = _fingerprint(run, config, bids_dir)
            if not overwrite and _up_to_date(run, names, fp, physio=config.physio.enabled):
                summary.n_skipped += 1
                continue
            failed_with, failure = FailureRow.read_failed(_failure_path(output_dir, run))
            if not (overwrite or retry_failed) and failure and failed_with == fp:
                # same inputs, same configuration: it would fail the same way again
                summary.failures.append(failure.to_dict())
                summary.n_failed_before += 1
                continue
            _remove_previous(names)
            todo.append(run)
        log.info(
            "%d run(s) found, %d up to date, %d to process, %d failed before with unchanged inputs "
            "(--retry-failed retries them), %d with discovery problems",
            len(discovery.runs), summary.n_skipped, len(todo), summary.n_failed_before, len(discovery.problems),
        )
        reporter = None
        if reports:
            reporter = _Reports.open(output_dir, bids_dir, config, atlas, discovery.runs, todo, summary)
        ready = reporter.jobs_ready() if reporter else []
        if todo or len(ready) >= _REPORTS_WORTH_A_CLUSTER or (ready and client is not None):
            _compute(todo, atlas, config, output_dir, fingerprints, summary, client, progress,
                     reporter=reporter, ready=ready)
        elif ready:  # a few reports and no run: starting a cluster would cost more than rendering them here
            for job in ready:
                reporter.collect(job[0], lambda: reporter.render_here(job))
        if reporter:
            reporter.log_summary()
        done = {r["run_id"]: r for r in completed_runs(output_dir)}
        current = {run.run_id for run in discovery.runs}
        summary.records = [r for rid, r in sorted(done.items()) if rid in current]
        for record in summary.records:
            if record["status"] == "excluded":
                summary.failures.append(FailureRow.excluded(record).to_dict())
        summary.n_ok = sum(r["status"] == "ok" for r in summary.records)
        summary.n_excluded = sum(r["status"] == "excluded" for r in summary.records)
        summary.n_failed = sum(f["status"] == "failed" for f in summary.failures)
        write_failures(output_dir, summary.failures)
        if config.physio.enabled:
            _count_physio(summary, computed={run.run_id for run in todo})
        log.info(
            "participant level done: %d usable, %d excluded, %d failed (see %s)",
            summary.n_ok, summary.n_excluded, summary.n_failed, output_dir / "failures.tsv",
        )
        return summary


def _count_physio(summary: ParticipantSummary, computed: set[str]) -> None:
    """Count the completed runs with and without usable physiology (by reason) and log it."""
    reasons: dict[str, int] = {}
    seconds = []
    for record in summary.records:
        block = record.get("physio") or {}
        if block.get("usable"):
            summary.n_physio_usable += 1
        else:
            reason = block.get("reason") or "unknown"
            reasons[reason] = reasons.get(reason, 0) + 1
        if record["run_id"] in computed and block.get("seconds") is not None:
            seconds.append(float(block["seconds"]))
    summary.physio_reasons = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    summary.physio_seconds = sum(seconds) / len(seconds) if seconds else None
    why = ", ".join(f"{code} {n}" for code, n in summary.physio_reasons.items())
    cost = (f"; the physiology step took {summary.physio_seconds:.3f} s per run computed now"
            if summary.physio_seconds is not None else "")
    log.info("physiology: %d run(s) with usable HRV, %d without%s (desc-physio_metrics.tsv gives each reason)%s",
             summary.n_physio_usable, sum(reasons.values()), f" ({why})" if why else "", cost)


def _log_physio(run: Run, record: dict) -> None:
    """Warn when a run has a recording that could not be used (a run without one is only counted)."""
    block = record.get("physio")
    if not block or block.get("usable") or block.get("reason") in ("missing", "disabled"):
        return
    files = ", ".join(block.get("recording") or []) or "its physiological recording"
    log.warning("%s: %s not usable for HRV (%s): %s (the run is processed without it)",
                run.run_id, files, block.get("reason"), block.get("message"))


def _compute(todo, atlas, config, output_dir, fingerprints, summary, client, progress, task=None,
             reporter=None, ready=()) -> None:
    """Run ``task`` (default :func:`process_run`) over ``todo`` on ``client``, or on a cluster
    started (and closed) here when ``client`` is None; failures go into ``summary``.

    With ``reporter``, the ``ready`` report jobs are submitted first, and each participant's
    report as soon as its last run finishes."""
    task = task or process_run
    with contextlib.ExitStack() as stack:
        given = client is not None
        if not given:  # cluster_client announces the dashboard of a cluster it starts
            client = stack.enter_context(_planned_client(todo, config, n_reports=len(ready)))
        _submit_and_collect(todo, atlas, config, output_dir, fingerprints, summary, client, progress, task,
                            reporter, ready, announce_dashboard=given)


def _planned_client(todo: list[Run], config: Config, n_reports: int = 0):
    """A client on a cluster sized from the runs' estimated memory; ``n_reports`` reports to render
    count as small tasks, so a batch of reports alone gets workers too."""
    from neurokit.parallel import BASELINE_MEMORY, estimate_task_memory, sized_client

    sizes = [estimate_task_memory(*_shape_and_itemsize(run)) for run in todo] + [BASELINE_MEMORY] * n_reports
    return sized_client(config.cluster, sizes)


def _announce_dashboard(client) -> None:
    """Log the dask dashboard's address, only when one is served: without bokeh the link leads
    nowhere (cluster_client says so, and what to install, for the clusters it starts)."""
    from neurokit.parallel._cluster import _dashboard_available

    dashboard = getattr(client, "dashboard_link", None)
    if dashboard and _dashboard_available():
        log.info("dask dashboard: %s", dashboard)


def _submit_and_collect(todo, atlas, config, output_dir, fingerprints, summary, client, progress, task,
                        reporter=None, ready=(), announce_dashboard=True) -> None:
    from distributed import as_completed

    from neurokit.parallel import quiet_worker_logs, submit_shared

    if announce_dashboard:
        _announce_dashboard(client)
    if not log.isEnabledFor(logging.DEBUG):
        quiet_worker_logs(client)  # each failed run is logged once below, with its stage
    atlas_future = submit_shared(client, atlas, key=f"atlas-{atlas.name}-{config.run_hash()}")
    futures = [
        client.submit(
            task, run, atlas_future, config, str(output_dir), fingerprints[run.run_id],
            key=f"run-{run.run_id}-{fingerprints[run.run_id]}", retries=config.cluster.retries, pure=False,
        )
        for run in todo
    ]
    by_key = {f.key: run for f, run in zip(futures, todo)}
    lines = _Lines(progress, len(futures))
    pending = as_completed(futures)
    try:
        if reporter is not None:
            reporter.start(client)
            for job in ready:
                pending.add(reporter.submit(job))
            if not futures and ready:
                lines.reports(len(ready))
        for future in pending:
            if reporter is not None and reporter.owns(future):
                lines.report_done(reporter.collect_future(future))
                continue
            run = by_key[future.key]
            if future.status == "finished":
                record = future.result()
                _failure_path(output_dir, run).unlink(missing_ok=True)
                lines.runs.update(ok=record["status"] == "ok")
                if record["status"] == "excluded":
                    log.info("%s excluded: %s", run.run_id, "; ".join(record["reasons"]))
                _log_physio(run, record)
            else:
                exc = future.exception()
                stage, etype, message = _describe(exc)
                lines.runs.update(failed=True)
                log.error("%s failed in %s: %s: %s", run.run_id, stage, etype, message)
                log.debug("".join(traceback.format_exception(exc)))
                row = FailureRow.failed(run.run_id, stage, etype, message, run.bold)
                summary.failures.append(row.to_dict())
                row.write_failed(_failure_path(output_dir, run), fingerprints[run.run_id])
            future.release()
            job = reporter.run_done(run) if reporter is not None else None
            if job is not None:
                pending.add(reporter.submit(job))
            if lines.runs.finished == lines.runs.total and reporter is not None and reporter.keys:
                lines.reports(len(reporter.keys))  # the runs are done; the reports still rendering get a line
        if reporter is not None:
            reporter.stop()
    finally:
        lines.close()


class _Lines:
    """The participant level's progress: a line for the runs, then one for the reports still rendering."""

    def __init__(self, enabled: bool | None, n_runs: int):
        from neurokit.pipelines._progress import Progress

        self.enabled = enabled
        self.runs = Progress(n_runs, enabled=enabled)
        self._reports = None
        if not n_runs:  # nothing to count (a Progress of 0 tasks shows no line): no "runs 0/0" record either
            self.runs.closed = True

    def reports(self, n: int) -> None:
        from neurokit.pipelines._progress import Progress

        if self._reports is None:
            self.runs.close()
            self._reports = Progress(n, enabled=self.enabled, unit="participant reports")

    def report_done(self, ok: bool) -> None:
        if self._reports is not None:
            self._reports.update(failed=not ok)

    def close(self) -> None:
        self.runs.close()
        if self._reports is not None:
            self._reports.close()


#: Reports to render, with no run to compute, from which starting a local cluster pays off
#: (it takes about as long as rendering two reports in this process).
_REPORTS_WORTH_A_CLUSTER = 3


def _subject(run_id_or_row) -> str | None:
    from neurokit.report._participant import _subject_of_failure

    return _subject_of_failure(pd.Series(run_id_or_row))


def _report_failed(summary: ParticipantSummary, subject: str | None, exc: BaseException) -> None:
    """Log a report that could not be rendered (``subject`` None: none could) and list it in ``summary``."""
    message = str(exc) or repr(exc)
    which = "the participant reports" if subject is None else f"the report of sub-{subject}"
    log.error("%s failed: %s: %s", which, type(exc).__name__, message)
    log.debug("".join(traceback.format_exception(exc)))
    summary.report_failures.append({"subject": subject, "error_type": type(exc).__name__, "message": message})


class _Reports:
    """Participant reports scheduled on the run's client as each participant's runs finish.

    A participant's report is submitted when the last of its runs in this batch is done or has
    failed (at once when it has none to compute), and only when its fingerprint changed
    (:func:`neurokit.report._participant.report_fingerprint`). It reads that participant's own
    records and failures only, so the order in which runs finish does not matter.
    """

    def __init__(self, output_dir: Path, bids_dir: Path, config: Config, atlas, runs: list[Run], todo: list[Run],
                 summary: ParticipantSummary):
        from neurokit.report._participant import report_context

        self.context = report_context(output_dir, bids_dir=bids_dir, config=config, atlas=atlas)
        self.config, self.summary, self.client, self.shared = config, summary, None, None
        self.runs_of: dict[str, list[Run]] = {}
        for run in runs:
            self.runs_of.setdefault(str(run.entity_dict["sub"]), []).append(run)
        for row in summary.failures:  # discovery problems: a participant may have no readable run at all
            subject = _subject(row)
            if subject is not None:
                self.runs_of.setdefault(subject, [])
        self.pending = {subject: 0 for subject in self.runs_of}
        for run in todo:
            self.pending[str(run.entity_dict["sub"])] += 1
        self.keys: dict[str, str] = {}  # report future key -> subject

    @classmethod
    def open(cls, *args) -> "_Reports | None":
        """The scheduler, or None (the failure logged and listed) when the reports' shared inputs cannot be read."""
        try:
            return cls(*args)
        except Exception as exc:  # noqa: BLE001 - reports must never stop the batch
            summary = args[-1]
            _report_failed(summary, None, exc)
            return None

    def job(self, subject: str) -> tuple | None:
        """``(subject, runs, fingerprint)`` when the report needs rendering, else None (it is current,
        or its inputs cannot be read: then the failure is logged and listed)."""
        try:
            return self._job(subject)
        except Exception as exc:  # noqa: BLE001 - reports must never stop the batch
            _report_failed(self.summary, subject, exc)
            return None

    def _job(self, subject: str) -> tuple | None:
        from neurokit.report._participant import _runs_by_subject, report_fingerprint, report_up_to_date

        records = [read_completion(DerivativeNames(self.context.output_dir, run, self.context.atlas.name,
                                                   self.config.modelled_strategy).completion(),
                                   self.context.output_dir) for run in self.runs_of[subject]]
        failures = pd.DataFrame([row for row in self.summary.failures if _subject(row) == subject],
                                columns=list(FAILURE_COLUMNS))
        runs = _runs_by_subject([r for r in records if r is not None], failures).get(subject)
        if not runs:
            return None
        runs = sorted(runs, key=lambda r: r["run_id"])
        fingerprint = report_fingerprint(subject, runs, self.context)
        if report_up_to_date(subject, fingerprint, self.context.output_dir):
            self.summary.n_reports_up_to_date += 1
            self.summary.reports.append(str(self._path(subject)))
            return None
        return subject, runs, fingerprint

    def jobs_ready(self) -> list[tuple]:
        """Jobs of the participants with no run to compute in this batch."""
        return [job for subject, n in sorted(self.pending.items()) if n == 0 and (job := self.job(subject))]

    def run_done(self, run: Run) -> tuple | None:
        """Count ``run`` as finished; its participant's job when it was the last one."""
        subject = str(run.entity_dict["sub"])
        self.pending[subject] -= 1
        return self.job(subject) if self.pending[subject] == 0 else None

    def start(self, client) -> None:
        from neurokit.parallel import submit_shared

        self.client = client
        self.shared = submit_shared(client, self.context, key=f"report-context-{self.context.settings_key}")

    def stop(self) -> None:
        """Release the shared context on the client: the batch is over."""
        if self.shared is not None:
            self.shared.release()
        self.client = self.shared = None

    def submit(self, job: tuple):
        from neurokit.report._participant import _write_one

        subject, _, fingerprint = job
        # before queued runs: the participant's files are fresh in the page cache, and its page is
        # there to read while the batch goes on
        future = self.client.submit(_write_one, *job, self.shared, key=f"report-sub-{subject}-{fingerprint}",
                                    priority=1, retries=self.config.cluster.retries, pure=False)
        self.keys[future.key] = subject
        return future

    def owns(self, future) -> bool:
        return future.key in self.keys

    def render_here(self, job: tuple) -> Path:
        from neurokit.report._participant import _write_one

        return _write_one(*job, self.context)

    def collect_future(self, future) -> bool:
        subject = self.keys.pop(future.key)
        ok = self.collect(subject, future.result)
        future.release()
        return ok

    def collect(self, subject: str, result) -> bool:
        """Record the outcome of ``result()`` (which renders or fetches ``subject``'s report); False if it failed."""
        try:
            path = result()
        except Exception as exc:  # noqa: BLE001 - a report must never stop the batch
            _report_failed(self.summary, subject, exc)
            return False
        self.summary.n_reports_rendered += 1
        self.summary.reports.append(str(path))
        return True

    def _path(self, subject: str) -> Path:
        from neurokit.report._common import report_name

        return self.context.output_dir / report_name(subject)

    def log_summary(self) -> None:
        self.summary.reports.sort()
        log.info("participant reports: %d rendered, %d up to date, %d failed", self.summary.n_reports_rendered,
                 self.summary.n_reports_up_to_date, len(self.summary.report_failures))


def _shape_and_itemsize(run: Run) -> tuple[tuple[int, ...], int]:
    header = nib.load(str(run.bold)).header  # header only: the data are not read
    return tuple(int(n) for n in header.get_data_shape()), int(header.get_data_dtype().itemsize)


def _describe(exc: BaseException) -> tuple[str, str, str]:
    if isinstance(exc, RunFailure):
        return exc.stage, exc.error_type, exc.message
    name = type(exc).__name__
    if name == "KilledWorker":
        return "worker", name, f"the worker running this run died repeatedly (out of memory?): {exc}"
    return "unknown", name, str(exc)
