"""The whole study: participant level, group level and the HTML reports, on one dask client."""

from __future__ import annotations

import logging
from pathlib import Path

from neurokit.config import Config

__all__ = ["run_study"]

log = logging.getLogger("neurokit.study")


def run_study(bids_dir: str | Path, output_dir: str | Path, config: Config, *, client=None,
              progress: bool | None = None) -> int:
    """Run participant and group levels with their reports.

    Parameters
    ----------
    bids_dir, output_dir : str or Path
        BIDS root and derivative dataset.
    config : Config
        Resolved configuration.
    client : distributed.Client, optional
        None starts clusters from ``config.cluster`` as each level needs them.
    progress : bool or None
        Progress bar (None: only on a terminal).

    Returns
    -------
    int
        Exit code: the participant level's (0, 1 or 2), or 2 when the group level cannot run.

    Raises
    ------
    NeurokitError
        An input error, before anything is written (see :func:`run_participant`). From then on
        the whole study also logs to ``output_dir/logs/study-<YYYYmmdd-HHMMSS>.log``, beside
        each level's own log.
    """
    from neurokit.pipelines._runlog import level_log

    # the study log starts when the participant level has checked its inputs, so an invalid
    # invocation leaves neither folder nor log
    with level_log(output_dir, "study"):
        return _run_study(bids_dir, output_dir, config, client=client, progress=progress)


def _run_study(bids_dir: str | Path, output_dir: str | Path, config: Config, *, client, progress) -> int:
    """:func:`run_study` inside its log."""
    from neurokit.pipelines.group import run_group
    from neurokit.pipelines.participant import exit_code, run_participant

    # Without a client, each level sizes its own cluster: the participant level from the
    # runs it finds (memory plan), the group level for its permutation tests.
    # participant reports render on the participant level's cluster, as each participant's runs finish
    summary = run_participant(bids_dir, output_dir, config, client=client, progress=progress,
                              reports=config.report.enabled)
    code = exit_code(summary)
    if code == 2:
        log.error("no usable run: the group level and reports are skipped (see %s)", Path(output_dir) / "failures.tsv")
        return code
    if client is None:
        from neurokit.parallel import cluster_client

        with cluster_client(config.cluster) as own:
            group_code = run_group(bids_dir, output_dir, config, client=own, progress=progress)
    else:
        group_code = run_group(bids_dir, output_dir, config, client=client, progress=progress)
    if config.report.enabled:
        try:
            from neurokit.report import write_group_report
        except ImportError:  # pragma: no cover - report package not installed
            log.warning("neurokit.report is not available; no HTML reports written")
        else:
            from neurokit.pipelines._progress import phase

            with phase("rendering the group report", enabled=progress, logger=log):
                group_page = write_group_report(output_dir, bids_dir=bids_dir, config=config)
            log.info("reports: %d participant page(s) and %s", len(summary.reports), group_page)
    return max(code, group_code)
