"""One run's computation, in memory: atlas checks, confounds, region signals, each denoising
strategy, connectivity and QC.

:func:`compute_run` reads a discovered run's files and returns a :class:`RunResult`; it writes
nothing, so a methods developer can compute one run in a notebook::

    from neurokit.atlases import load
    from neurokit.config import load_config
    from neurokit.io import discover_from_config
    from neurokit.run import compute_run

    config = load_config("config.yaml")
    run = discover_from_config(bids_dir, config.inputs).runs[0]
    result = compute_run(run, load(config.atlas.name), config)
    result.modelled.matrices["correlation"]

Writing the derivatives and scheduling a batch of runs is the participant level's
(``neurokit.pipelines.participant``: ``write_run``, ``process_run``, ``run_participant``).
"""

from neurokit.run._compute import MEAN_IMAGE_VOLUMES, RunResult, compute_run
from neurokit.run._stage import RunFailure

__all__ = ["MEAN_IMAGE_VOLUMES", "RunFailure", "RunResult", "compute_run"]
