"""HTML QC reports: content, self-containment, escaping of user strings and graceful gaps."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from neurokit.report import ReportError, write_group_report, write_participant_reports
from neurokit.report._testing import XSS, fabricate_outputs

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    bids, out, config = fabricate_outputs(root, n_subjects=4, n_volumes=60)
    participants = write_participant_reports(out, bids_dir=bids, config=config)
    group = write_group_report(out, bids_dir=bids, config=config)
    return out, participants, group


def _images(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', html)


def _assert_self_contained(html: str) -> None:
    assert all(src.startswith("data:image/png;base64,") for src in _images(html))
    # no external resource or link of any kind: the page must open offline
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "<script" not in html


def test_one_participant_report_per_participant(rendered):
    out, participants, _ = rendered
    assert [p.name for p in participants] == ["sub-01.html", "sub-02.html", "sub-03.html", "sub-04.html"]
    assert all(p.parent == out for p in participants)
    for path in participants:
        assert path.stat().st_size < 5_000_000
        _assert_self_contained(path.read_text())


def test_participant_report_sections_per_run(rendered):
    _, participants, _ = rendered
    html = participants[0].read_text()  # sub-01: two sessions
    for heading in ("Runs", "Phenotype", "Summary", "Head motion", "Region signals", "Atlas alignment",
                    "Coverage and tSNR per region", "Connectivity", "Software and configuration", "Methods"):
        assert f">{heading}<" in html, heading
    assert html.count('<span class="badge ok">ok</span>') == 2
    assert "ses-1_task-rest" in html and "ses-2_task-rest" in html
    # per run: FD/DVARS, carpet, atlas overlay, coverage with tSNR, matrix, indices vs group
    assert len(_images(html)) == 12
    assert "Repetition time" in html and "tDOF lost / remaining" in html and "Censored volumes" in html
    assert "Participant-level config hash" in html and "nilearn" in html
    # the fabricated last region is 40 % inside the mask: flagged
    assert "Regions below 0.5 coverage" in html and "R_calcarine" in html


def test_participant_report_explains_exclusion_and_failure(rendered):
    _, participants, _ = rendered
    excluded = participants[2].read_text()
    assert '<span class="badge excluded">excluded</span>' in excluded
    assert "excluded: mean FD 0.6" in excluded
    failed = participants[3].read_text()
    assert '<span class="badge failed">failed</span>' in failed
    assert "failed in stage &#39;extract&#39; (ExtractError)" in failed
    assert _images(failed) == []


def test_methods_paragraph_with_citations(rendered):
    _, participants, _ = rendered
    html = participants[0].read_text()
    assert "&#39;scrubbing&#39; strategy" in html
    assert "framewise displacement above 0.5 mm" in html
    for citation in ("Power JD, et al. (2012)", "Esteban O, et al. (2019)", "Abraham A, et al. (2014)",
                     "Ledoit O, Wolf M (2004)", "Dosenbach NUF"):
        assert citation in html, citation


def test_user_strings_are_escaped(rendered):
    out, participants, group = rendered
    sub02 = participants[1].read_text()  # its site is the script
    assert ESCAPED in sub02 and XSS not in sub02
    html = group.read_text()
    assert ESCAPED in html and XSS not in html
    assert f"sub-{ESCAPED}" in html  # the phenotype-only participant, listed as text


def test_group_report_sections(rendered):
    _, _, group = rendered
    assert group.name == "group.html" and group.parent.name == "group"
    html = group.read_text()
    _assert_self_contained(html)
    for section in ("overview", "flow", "participants", "motion", "qcfc", "stages", "models", "longitudinal",
                    "methods"):
        assert f'<section id="{section}">' in html, section
    assert "6 runs found, 1 failed, 1 excluded by the QC rules, 4 included." in html
    assert html.index('id="flow"') < html.index('id="motion"') < html.index('id="participants"')
    assert "Median |QC-FC|" in html and "Distance dependence (Spearman rho)" in html
    assert "active - control" in html or "Difference from controls" in html
    for alt in ("ROC curves, stage / summary_indices", "Confusion matrix, stage / summary_indices",
                "Predicted against observed severity", "Permutation null of spearman",
                "Permutation null of balanced_accuracy", "Top 20 pattern edges on a glass brain",
                "Pattern weights region by region", "Longitudinal model estimates"):
        assert alt in html, alt
    assert "stage[T.active]" in html
    assert "Models not fitted" in html and "every row misses bdnf" in html
    assert len(_images(html)) >= 14
    assert "Ciric R, et al. (2017)" in html and "Pedregosa F, et al. (2011)" in html


def test_group_report_links_each_participant_report(rendered):
    out, participants, group = rendered
    html = group.read_text()
    links = set(re.findall(r'href="(\.\./sub-[^"]+\.html)"', html))
    assert links == {f"../{p.name}" for p in participants}
    assert all((group.parent / link).resolve().is_file() for link in links)


def test_group_report_before_group_level_and_models(tmp_path):
    bids, out, config = fabricate_outputs(tmp_path, n_subjects=3, n_volumes=60, with_group=False)
    html = write_group_report(out, bids_dir=bids, config=config).read_text()
    assert "group/features.tsv does not exist yet" in html
    assert "No model results yet" in html and "No longitudinal model" in html
    assert '<section id="participants">' in html and "sub-01" in html


def test_group_report_without_models(tmp_path):
    bids, out, config = fabricate_outputs(tmp_path, n_subjects=3, n_volumes=60, with_models=False, xss_site=False)
    html = write_group_report(out, config=config).read_text()  # no BIDS dir: roles come from features.tsv
    assert "No model results yet" in html
    assert "Median |QC-FC|" in html


def test_missing_or_empty_output_dir(tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        write_participant_reports(tmp_path / "nowhere")
    with pytest.raises(ReportError, match="no processed or failed runs"):
        write_group_report(tmp_path)


def test_report_name_is_one_safe_path_component():
    from neurokit.report._common import report_name

    assert report_name("01") == "sub-01.html"
    name = report_name(XSS)
    assert re.fullmatch(r"sub-[A-Za-z0-9]+\.html", name)
    assert name != report_name("<script>alert(2)</script>")


def test_blocks_escape_every_string():
    from neurokit.report._common import KeyValue, Link, Note, Section, Table, render

    section = Section("s", XSS, [Table([XSS], [[Link(XSS, "../sub-01.html")]], caption=XSS),
                                 KeyValue([(XSS, XSS)]), Note(XSS)])
    html = render("group.html.j2", title=XSS, subtitle=XSS, sections=[section], version="x", config_hash="h",
                  generated="now")
    assert "<script>" not in html
    assert html.count(ESCAPED) >= 7


def test_methods_text_follows_config():
    from neurokit.config import Config
    from neurokit.report._methods import methods_text

    compcor = Config().updated({"denoise.strategy": "compcor", "exclusion.max_mean_fd": 0.5})
    paragraphs, refs = methods_text(compcor, atlas_metadata={"Reference": "Atlas Ref (2020)", "Description": "d"})
    text = " ".join(paragraphs)
    assert "CompCor" in text and any("Behzadi" in r for r in refs)
    assert refs[0] == "Atlas Ref (2020)" and "[1]" in text
    assert "were censored" not in text  # censoring belongs to the scrubbing presets only
    assert any("Power JD, et al. (2012)" in r for r in refs)  # still cited for the mean-FD exclusion rule
    _, group_refs = methods_text(Config(), group=True)
    assert any("Ciric" in r for r in group_refs) and any("Johnson WE" in r for r in group_refs)


def test_methods_text_describes_the_recorded_parameters():
    from neurokit.config import Config
    from neurokit.denoise import resolve_strategy
    from neurokit.report._methods import methods_text

    config = Config()  # scrubbing+gsr, FD 0.5 mm
    # what the runs recorded wins over the configuration: here they were run with other thresholds
    recorded = resolve_strategy("scrubbing", motion="derivatives", fd_threshold=0.3, std_dvars_threshold=None, scrub=0)
    text = " ".join(methods_text(config, strategy_details=recorded, atlas_name="myatlas")[0])
    assert "'myatlas' atlas" in text and "with the 'scrubbing' strategy" in text
    assert "12 motion parameters (6 plus derivatives)" in text and "the global signal" not in text
    assert "Volumes with framewise displacement above 0.3 mm [" in text and "DVARS" not in text
    assert "were censored." in text and "segments shorter" not in text
    # nothing recorded: the configured strategy, resolved by the rule the participant level records with
    text = " ".join(methods_text(config)[0])
    assert "'pfclimbic' atlas" in text and "above 0.5 mm" in text and "standardised DVARS above 1.5" in text
    assert "the global signal" in text and "segments shorter than 5 volumes" in text


def test_methods_text_names_the_physiological_regressors_of_a_physio_strategy():
    from neurokit.config import Config
    from neurokit.report._methods import methods_text

    config = Config().updated({"denoise.strategy": "scrubbing+gsr+physio"})
    paragraphs, refs = methods_text(config)
    text = " ".join(paragraphs)
    assert "RETROICOR Fourier terms of the cardiac (order 3) and respiratory (order 4) phase [" in text
    assert "respiration volume per time convolved with the respiration response function" in text
    assert "heart rate convolved with the cardiac response function" in text and "interaction" not in text
    assert [any(name in r for r in refs) for name in ("Glover GH", "Birn RM, et al. (2006)", "Birn RM, et al. (2008)",
                                                      "Chang C")] == [True] * 4
    assert "the global signal" in text and "were censored" in text  # the strategy's other confounds are unchanged
    fewer = config.updated({"physio.regressors": {"hr": False, "cardiac_order": 0, "interaction_order": 1}})
    text = " ".join(methods_text(fewer)[0])
    assert "respiratory (order 4) phase" in text and "cardiac (order" not in text and "heart rate" not in text
    assert "order-1 interaction terms" in text
    plain = " ".join(methods_text(Config())[0])
    assert "RETROICOR" not in plain


def test_importing_the_report_keeps_the_users_matplotlib_backend():
    # a fresh interpreter: the backend is process-wide state, already chosen in this test process
    probe = (
        "import matplotlib; matplotlib.use('svg'); import neurokit, neurokit.report;"
        "from neurokit.report import _figures as F;"
        "uri = F.to_data_uri(F.plot_motion([0.1, 0.2, 0.3], [1.0, 1.2, 0.9], fd_threshold=0.5, censored=[], t_r=2.0));"
        "print(matplotlib.get_backend(), uri[:22], 'matplotlib.pyplot' in __import__('sys').modules)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "data:image/png;base64,", "False"]


def test_figures_mark_blocks(rng):
    from neurokit.report import _figures as F

    names = [f"r{i}" for i in range(6)]
    networks = ["prefrontal", "limbic", "prefrontal", "other", "limbic", "other"]
    m = rng.uniform(-1, 1, (6, 6))
    fig = F.plot_matrix((m + m.T) / 2, names, networks)
    outlines = [p for p in fig.axes[0].patches if not p.get_fill()]
    assert len(outlines) == 2  # the two prefrontal-limbic blocks
    assert [networks[i] for i in F.network_order(networks)] == ["prefrontal"] * 2 + ["limbic"] * 2 + ["other"] * 2
    fd = rng.uniform(0, 1, 50)
    fig = F.plot_motion(fd, fd, fd_threshold=0.5, censored=[3, 7], t_r=2.0)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 2
    uri = F.to_data_uri(fig)
    assert uri.startswith("data:image/png;base64,") and len(uri) < 200_000


@pytest.mark.slow
def test_participant_reports_on_a_dask_client(tmp_path):
    distributed = pytest.importorskip("distributed")
    bids, out, config = fabricate_outputs(tmp_path, n_subjects=2, n_volumes=40, with_group=False)
    # threads in one process: the figures use no pyplot state, so concurrent drawing is safe
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        paths = write_participant_reports(out, bids_dir=bids, config=config, client=client)
    assert [p.name for p in paths] == ["sub-01.html", "sub-02.html"]
    html = paths[0].read_text()
    assert len(_images(html)) == 12 and ESCAPED not in html
    assert ESCAPED in paths[1].read_text() and "failed in stage" in paths[1].read_text()


@pytest.mark.slow
def test_group_report_renders_real_model_results(tmp_path):
    """Model outputs written from neurokit.models' own result object, in the documented layout."""
    import json

    import pandas as pd

    from neurokit.models._cv import cross_validate_model

    bids, out, config = fabricate_outputs(tmp_path, n_subjects=9, n_volumes=40, with_models=False, xss_site=False)
    features = pd.read_csv(out / "group" / "features.tsv", sep="\t", na_values=["n/a"], keep_default_na=False)
    networks = json.loads((out / "group" / "features.json").read_text())["Networks"]
    for target, feature_set in (("severity", "pfc_limbic_edges"), ("user_vs_control", "summary_indices")):
        result = cross_validate_model(features, target, feature_set, networks, covariates=(), harmonize_site=False,
                                      stage_levels=config.columns.stage_levels, cv_folds=2, cv_repeats=1,
                                      n_permutations=3)
        folder = out / "group" / "models" / target / feature_set
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(result.metrics, default=str))
        result.predictions.to_csv(folder / "predictions.tsv", sep="\t", index=False, na_rep="n/a")
        result.permutation_null.to_csv(folder / "permutation_null.tsv", sep="\t", index=False)
        result.patterns.to_csv(folder / "patterns.tsv", sep="\t", index=False)
        assert result.class_patterns.empty  # two classes or a regression: no per-class patterns
    html = write_group_report(out, config=config).read_text()
    for alt in ("Predicted against observed severity", "Permutation null of spearman",
                "ROC curves, user_vs_control / summary_indices", "Confusion matrix, user_vs_control / summary_indices",
                "Pattern weights region by region, severity / pfc_limbic_edges",
                "Pattern weights of non-edge features, user_vs_control / summary_indices"):
        assert alt in html, alt
    assert "spearman (primary)" in html and "balanced_accuracy (primary)" in html
    assert "beyond confounds" in html and "Permutation p" in html and "smallest possible 0.25" in html
    # regression and class models alike test the partial r (the class model also describes its likelihood ratio)
    assert len(re.findall(r"partial r -?[0-9.]+ \(p = [0-9.]+\)", html)) >= 2 and "Likelihood ratio (df)" in html
    assert "No group/confounds.json yet" in html

    # every shown p-value comes with its floor; the summary adds the FDR-corrected column
    assert "Permutation p-values cannot fall below 1/(3+1) = 0.25." in html
    assert "(floor 1/(3+1) = 0.25)." in html
    assert "p, FDR across models" in html

def test_group_report_confounds_section(tmp_path):
    import json

    import pandas as pd

    from neurokit.models import covariate_associations, exclusion_bias

    bids, out, config = fabricate_outputs(tmp_path, n_subjects=8, n_volumes=40, with_models=False, xss_site=False)
    features = pd.read_csv(out / "group" / "features.tsv", sep="\t", na_values=["n/a"], keep_default_na=False)
    runs = features[["participant_id", "severity", "stage"]].assign(excluded=features["severity"] > 15)
    levels = dict(stage_levels=config.columns.stage_levels)
    sensitivity = {"severity": {"summary_indices": [
        {"variant": "configured", "covariates": ["mean_fd"], "n_rows": 9, "metric": "spearman", "mean": 0.41,
         "sd": 0.05, "beyond_confounds": {"measure": "partial_r", "value": 0.33, "p_permutation": 0.02}},
        {"variant": "without mean_fd", "covariates": ["age", "sex"], "error": "'cv_folds'=5 exceeds the 4"}]}}
    (out / "group" / "confounds.json").write_text(json.dumps({
        "covariate_associations": covariate_associations(features, **levels),
        "exclusion_bias": exclusion_bias(runs, targets=("severity",), **levels),
        "sensitivity": sensitivity, "notes": ["1 excluded run(s) have no connectivity matrix"]}))
    html = write_group_report(out, config=config).read_text()
    assert '<section id="confounds">' in html
    assert re.search(r"severity: Excluded runs (had higher severity than|did not differ detectably in severity from) "
                     r"included runs \(median [0-9.]+ vs [0-9.]+, n = [0-9]+ vs [0-9]+; Mann-Whitney p = ", html)
    assert "How strongly each covariate is associated with each target" in html and "rho = " in html
    assert "without mean_fd" in html and "0.41 ± 0.05" in html and "partial r 0.33 (permutation p = 0.020)" in html
    assert "<td>0.41 ± 0.05</td><td>0</td>" in html  # the score beside its chance level
    assert "&#39;cv_folds&#39;=5 exceeds the 4" in html and "1 excluded run(s) have no connectivity matrix" in html


def test_atlas_overlay_is_drawn_in_ras_whatever_the_storage_order(rng):
    import io

    import numpy as np

    from neurokit.report import _figures as F

    bg = rng.uniform(1, 2, (7, 8, 9))
    labels = np.zeros((7, 8, 9), int)
    labels[1, 2:4, 3:6] = 1  # a left-hemisphere region (low x index in RAS)
    ras = np.diag([3.0, 3.0, 3.0, 1.0])
    las = ras.copy()
    las[0, 0], las[0, 3] = -3.0, 18.0  # same world positions, x stored right-to-left
    images = []
    for data, lab, aff in ((bg, labels, ras), (bg[::-1], labels[::-1], las)):
        buffer = io.BytesIO()
        F.plot_atlas_overlay(data, lab, aff).savefig(buffer, format="raw", dpi=40)
        images.append(buffer.getvalue())
    assert images[0] == images[1]


def _benchmark_table(**changes):
    import pandas as pd

    from neurokit.qc import BENCHMARK_COLUMNS

    rows = [
        {"strategy": "simple", "n_runs": 20, "qcfc_percent_significant": 42.0, "qcfc_median_abs": 0.21,
         "qcfc_distance_rho": -0.3, "tdof_lost_mean": 120.0, "tdof_remaining_mean": 30.0, "tdof_remaining_min": 12.0,
         "n_runs_below_min_tdof": 3, "network_contrast": 0.4, "note": ""},
        {"strategy": "scrubbing+gsr", "n_runs": 19, "qcfc_percent_significant": 6.0, "qcfc_median_abs": 0.08,
         "qcfc_distance_rho": -0.05, "tdof_lost_mean": 123.0, "tdof_remaining_mean": 28.0, "tdof_remaining_min": 9.0,
         "n_runs_below_min_tdof": 4, "network_contrast": 0.5, "note": ""},
        {"strategy": "compcor", "n_runs": 20, "qcfc_percent_significant": 2.0, "qcfc_median_abs": 0.05,
         "qcfc_distance_rho": 0.01, "tdof_lost_mean": 145.0, "tdof_remaining_mean": 5.0, "tdof_remaining_min": -3.0,
         "n_runs_below_min_tdof": 20, "network_contrast": float("nan"),
         "note": "networks: <script>alert(1)</script>"},
    ]
    table = pd.DataFrame(rows, columns=list(BENCHMARK_COLUMNS))
    for key, value in changes.items():
        table[key] = value
    return table


def test_denoising_section_compares_strategies_and_flags_a_clearly_better_one(rendered):
    from neurokit.config import Config
    from neurokit.pipelines.group import write_denoising_benchmark

    out, _, group = rendered
    config = Config().updated({"denoise.strategy": ["simple", "scrubbing+gsr", "compcor"],
                               "exclusion.min_tdof": 15})
    write_denoising_benchmark(out / "group", _benchmark_table(), config)
    html = write_group_report(out, config=config).read_text()
    section = html[html.index('<section id="denoising">'):]
    section = section[:section.index("</section>")]
    assert html.index('id="qcfc"') < html.index('id="denoising"') < html.index('id="stages"')
    assert "The models used &#39;simple&#39;, chosen by the first strategy listed in denoise.strategy" in section
    assert "simple (modelled)" in section and "runs below min_tdof (15)" in section
    assert "42" in section and "0.21" in section and "30 / 12" in section
    # scrubbing+gsr: far fewer motion-related edges at a similar tDOF and run cost; compcor costs too many tDOF
    assert "&#39;scrubbing+gsr&#39; has 6% of edges related to motion" in section
    assert "&#39;compcor&#39; has" not in section
    assert ESCAPED in section and "<script>alert" not in section
    assert "Denoising strategies side by side" in section and len(_images(section)) == 1
    _assert_self_contained(html)


def test_denoising_section_single_strategy_and_missing_table(tmp_path):
    from neurokit.config import Config
    from neurokit.pipelines.group import write_denoising_benchmark
    from neurokit.report._denoising import _clearly_better, denoising_section

    config = Config()
    assert "denoising_benchmark.tsv does not exist yet" in str(denoising_section(tmp_path, config).blocks[0])
    write_denoising_benchmark(tmp_path, _benchmark_table().iloc[:1], config)
    blocks = denoising_section(tmp_path, config).blocks
    assert any("Only one strategy is configured" in getattr(b, "text", "") for b in blocks)
    # fewer significant edges but more runs lost (15 of 20 usable): not a similar cost
    assert _clearly_better(_benchmark_table(n_runs=[20, 15, 20]), "simple") == []
    assert len(_clearly_better(_benchmark_table(), "simple")) == 1
    assert _clearly_better(_benchmark_table(), "scrubbing+gsr") == []


def test_methods_text_names_the_modelled_strategy_and_the_others():
    from neurokit.config import Config
    from neurokit.report._methods import methods_text

    config = Config().updated({"denoise.strategy": ["simple", "scrubbing+gsr"], "models.strategy": "scrubbing+gsr"})
    text = " ".join(methods_text(config)[0])
    assert "with the 'scrubbing+gsr' strategy" in text and "were censored" in text
    assert ("also cleaned with the 'simple' strategy for the denoising benchmark; the models used "
            "'scrubbing+gsr'") in text


def test_run_summary_says_why_the_run_was_kept_or_flagged():
    from neurokit.qc import exclusion_checks
    from neurokit.report._participant import _decision_table, _summary_block

    checks = exclusion_checks(mean_fd=0.12, censored_fraction=0.02, n_remaining=147, max_mean_fd=0.5,
                              max_censored_fraction=0.5, min_volumes=50, tdof_remaining=12, min_tdof=None)
    table = _decision_table({"ExclusionChecks": checks})
    outcomes = {row[4]: row[3] for row in table.rows}
    assert outcomes["exclusion.max_mean_fd"] == "passes"
    assert outcomes["exclusion.min_tdof"].startswith("flagged: only 12 temporal degrees of freedom remain")
    assert list(table.row_classes) == ["", "", "", "warn"]
    decision = dict(_summary_block({"status": "ok"}, {"ExclusionChecks": checks}).items)["Decision"]
    assert decision.startswith("included (flagged: only 12 temporal degrees of freedom")
    assert _decision_table({}) is None  # outputs of older releases have no checks


# ----------------------------------------------------------------------------- reports that decide
def _drawn(fig):
    """Lay the figure out as it will be saved (report dpi) and return its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from neurokit.report import _figures as F

    fig.set_dpi(F._DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


@pytest.mark.parametrize("n_regions", [26, 72, 200])
def test_matrix_labels_are_legible_or_grouped_at_any_region_count(rng, n_regions):
    import numpy as np

    from neurokit.report import _figures as F

    names = [f"region_{i:03d}_name" for i in range(n_regions)]
    networks = [("prefrontal", "limbic", "other")[i % 3] for i in range(n_regions)]
    m = rng.uniform(-1, 1, (n_regions, n_regions))
    fig = F.plot_matrix((m + m.T) / 2, names, networks, title="correlation")
    renderer = _drawn(fig)
    ax = fig.axes[0]
    labels = [t for t in ax.get_yticklabels() if t.get_text()]
    assert all(F.label_px(t.get_fontsize()) >= F.MIN_LABEL_PX for t in labels + ax.get_xticklabels())
    assert fig.get_figwidth() * F._DPI <= 1100  # shown at native size within a report page
    if n_regions <= F.MAX_LABELLED_REGIONS:
        assert len(labels) == n_regions
        pitch = ax.get_window_extent(renderer).height / n_regions
        assert pitch >= F.MIN_LABEL_PX  # rows at least as tall as their labels: no overlap
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.y0)
        assert all(a.y1 <= b.y0 + 0.5 for a, b in zip(boxes, boxes[1:]))
    else:  # too many to name: network blocks named with their sizes
        assert [t.get_text() for t in labels] == ["prefrontal (67)", "limbic (67)", "other (66)"]
    assert np.isfinite(ax.get_images()[0].get_array()).any()


def test_stage_matrices_name_their_networks(rng):
    from neurokit.report import _figures as F

    names = [f"r{i}" for i in range(9)]
    networks = ["prefrontal"] * 3 + ["limbic"] * 4 + ["other"] * 2
    fig = F.plot_matrices({"control (n=3)": rng.normal(size=(9, 9)), "active (n=4)": rng.normal(size=(9, 9))},
                          names, networks)
    _drawn(fig)
    first, second = fig.axes[:2]
    assert [t.get_text() for t in first.get_yticklabels()] == ["prefrontal (3)", "limbic (4)", "other (2)"]
    assert [t.get_text() for t in second.get_xticklabels()] == ["prefrontal (3)", "limbic (4)", "other (2)"]
    assert all(F.label_px(t.get_fontsize()) >= F.MIN_LABEL_PX for t in first.get_yticklabels())
    assert fig.axes[-1].get_ylabel() == "Fisher z"  # the colour bar names the unit


@pytest.mark.parametrize("n_regions", [4, 25])
def test_atlas_overlay_has_three_planes_and_a_legend(rng, n_regions):
    import numpy as np

    from neurokit.report import _figures as F

    labels = np.zeros((20, 20, 20), int)
    for v in range(1, n_regions + 1):  # one voxel per region, spread through the volume
        labels[v % 20, 5 + v // 20, (7 * v) % 20] = v
    names = {v: f"R{v}" for v in range(1, n_regions + 1)}
    nets = {v: ("prefrontal", "limbic")[v % 2] for v in names}
    fig = F.plot_atlas_overlay(rng.uniform(1, 2, labels.shape), labels, np.diag([4.0, 4, 4, 1]),
                               region_names=names, region_networks=nets)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    for plane in ("sagittal", "coronal", "axial"):
        assert sum(t.startswith(plane) for t in texts) == 3, plane
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    if n_regions <= 20:  # a colour per region, each named
        assert legend == [f"R{v}" for v in range(1, n_regions + 1)]
    else:  # more regions than distinct colours: networks, with their sizes
        assert legend == ["prefrontal (12 regions)", "limbic (13 regions)"]
    # the chosen slices together cut every region that any slice of a plane can show
    picks = F._slices_showing_most_regions(labels, 2, 3)
    assert len(picks) == 3 and len(set(np.unique(labels[:, :, picks])) - {0}) >= 3


def test_region_quality_block_shows_coverage_and_tsnr_and_flags_low_regions():
    from neurokit.report import _figures as F
    from neurokit.report._participant import _region_quality_blocks

    tsnr = {"L_amygdala": 12.0, "R_amygdala": 80.0, "L_dlPFC": 90.0, "R_dlPFC": 100.0, "L_vmPFC": None}
    coverage = {"regions": {n: {"n_voxels": 10, "fraction": 0.3 if n == "R_dlPFC" else 1.0} for n in tsnr}}
    figure, grid = _region_quality_blocks({}, {"RegionTSNR": tsnr, "RegionCoverage": coverage}, None, 0.5, 0.5)
    assert figure.alt == "Per-region coverage and tSNR"
    assert "0.5 x the run's median, 85" in figure.caption and "inside the brain mask (dashed: 0.5)" in figure.caption
    low_coverage, low_tsnr = grid.blocks
    assert [row[0] for row in low_coverage.rows] == ["R_dlPFC"]
    # below half the median (85): the low region and the one with an undefined tSNR
    assert [row[0] for row in low_tsnr.rows] == ["L_amygdala", "L_vmPFC"]
    only_coverage = _region_quality_blocks({}, {"RegionCoverage": coverage}, None, 0.5, 0.5)
    assert "older neurokit" in only_coverage[1].blocks[1].text
    # the figure: one row per region in each panel, the low ones hatched, labels legible
    fig = F.plot_region_quality(list(tsnr), ["limbic", "limbic", "prefrontal", "prefrontal", "prefrontal"],
                                coverage=[1, 1, 1, 0.3, 1], tsnr=[12, 80, 90, 100, float("nan")],
                                coverage_threshold=0.5, tsnr_threshold=42.5)
    left, right = fig.axes
    assert [sum(bool(b.get_hatch()) for b in ax.patches) for ax in (left, right)] == [1, 1]
    assert all(F.label_px(t.get_fontsize()) >= F.MIN_LABEL_PX for t in left.get_yticklabels())


def test_tdof_line_states_the_rule():
    from neurokit.qc import exclusion_checks
    from neurokit.report._participant import _tdof_text

    def checks(tdof=12, **kw):
        return {"tDOFLost": 40, "tDOFRemaining": tdof, "ExclusionChecks": exclusion_checks(
            mean_fd=0.1, censored_fraction=0.0, n_remaining=150, max_mean_fd=None, max_censored_fraction=None,
            min_volumes=50, tdof_remaining=tdof, **kw)}

    assert _tdof_text(checks(min_tdof=None)).startswith("40 / 12 (flagged: only 12 temporal degrees of freedom")
    assert "not excluded for it because exclusion.min_tdof is 10" in _tdof_text(checks(min_tdof=10))
    assert _tdof_text(checks(tdof=90, min_tdof=10)) == "40 / 90 (passes: exclusion.min_tdof = 10)"
    assert _tdof_text(checks(min_tdof=20)) == "40 / 12 (excluded: exclusion.min_tdof = 20)"


def test_atlas_space_note_only_when_spaces_differ():
    from neurokit.report._common import atlas_space_note

    note = atlas_space_note("pfclimbic", "MNI152NLin6Asym", ["MNI152NLin2009cAsym"])
    assert note.startswith("Atlas space: the pfclimbic atlas is defined in MNI152NLin6Asym, the runs are in "
                           "MNI152NLin2009cAsym; both are MNI152 registrations, treated as one space")
    assert atlas_space_note("pfclimbic", "MNI152NLin6Asym", ["MNI152NLin6Asym", None]) is None
    assert "allow_resample let the labels" in atlas_space_note("a", "MNI152NLin6Asym", ["MNIColin27"],
                                                               allow_resample=True)


def test_atlas_space_note_in_summary_group_and_methods(rendered, tmp_path):
    from neurokit.report._methods import methods_text

    _, participants, group = rendered
    sub01 = participants[0].read_text()
    expected = "atlas is defined in MNI152NLin6Asym, the runs are in MNI152NLin2009cAsym"  # any atlas name
    summary = sub01[sub01.index('id="run-1-summary"'):sub01.index('id="run-1-motion"')]
    assert "<dt>Atlas space</dt>" in summary and "without a transform between the two templates" in summary
    methods = sub01[sub01.index('id="methods"'):]
    assert "Mean signals of the regions" in methods and "defined in MNI152NLin6Asym" in methods
    html = group.read_text()
    overview = html[html.index('id="overview"'):html.index('id="flow"')]
    assert expected in overview and expected in html[html.index('id="methods"'):]
    # the same space everywhere: no note at all
    bids, out, config = fabricate_outputs(tmp_path, n_subjects=2, n_volumes=40, with_group=False, xss_site=False,
                                          run_space="MNI152NLin6Asym")
    same = write_group_report(out, bids_dir=bids, config=config).read_text()
    assert "Atlas space" not in same and "is defined in" not in same
    assert "is defined in" not in " ".join(methods_text(config)[0])


def test_fisher_z_is_named_where_it_is(rendered):
    from neurokit.config import Config
    from neurokit.report._methods import methods_text

    _, participants, group = rendered
    sub01 = participants[0].read_text()
    assert "Correlation matrix (Pearson r) of the denoised region signals" in sub01
    assert "Fisher z-transformed (z = artanh r)" in sub01
    html = group.read_text()
    assert "Mean Fisher z (z = artanh r of each edge&#39;s correlation) per recovery stage" in html
    assert "standardised Fisher-z edge" in html  # the edge pattern's units
    text = " ".join(methods_text(Config(), group=True)[0])
    assert "Edge features were the Fisher z-transformed correlations (z = artanh r) of each region pair" in text
    assert "one vs rest per class" in text and "Benjamini-Hochberg" in text


def _class_patterns(classes, features, *, with_classes=True):
    import numpy as np
    import pandas as pd

    base = pd.DataFrame({"level": "feature", "name": features, "network": "", "n_features": 1,
                         "mean": np.linspace(1, -1, len(features)), "sd": 0.1, "abs_mean": 1.0,
                         "sign_consistency": 0.8})
    if not with_classes:
        return base
    return pd.concat([base.assign(**{"class": ""})] + [base.assign(**{"class": c}) for c in classes],
                     ignore_index=True)


def test_multiclass_model_shows_one_pattern_per_class():
    from neurokit.report._group import _pattern_blocks

    classes = ["control", "active", "early_abstinence", "sustained_remission"]
    metrics = {"kind": "classification", "classes": classes}
    features = ["idx_pfc_within", "idx_limbic_within", "idx_pfc_limbic"]
    blocks = _pattern_blocks(_class_patterns(classes, features), [], [], None, 20, "stage / summary_indices",
                             metrics)
    grid, note = blocks
    assert [f.alt for f in grid.blocks] == [f"Pattern weights of non-edge features, stage / summary_indices, {c} vs rest"
                                            for c in classes]
    assert "higher predicted probability of that class against all the others" in note.text
    assert "higher prediction" not in note.text and "clipped at 1.5 x the largest bar" in note.text
    assert "feature SDs per unit of predicted probability" in note.text
    # patterns of an older release (no per-class rows): not shown as if they meant something
    old = _pattern_blocks(_class_patterns(classes, features, with_classes=False), [], [], None, 20, "stage / x",
                          metrics)
    assert len(old) == 1 and old[0].level == "warn" and "no meaning for unordered classes" in old[0].text


def test_multiclass_edge_patterns_are_matrices_per_class():
    from neurokit.report._group import _pattern_blocks

    names = ["a", "b", "c"]
    edges = ["edge__a--b", "edge__a--c", "edge__b--c"]
    blocks = _pattern_blocks(_class_patterns(["x", "y", "z"], edges), names, ["prefrontal", "limbic", "other"],
                             None, 20, "stage / edges", {"kind": "classification", "classes": ["x", "y", "z"]})
    figure, table = blocks[:2]
    assert figure.alt == "Pattern weights per class, stage / edges" and "One-vs-rest" in figure.caption
    assert {row[0] for row in table.rows} == {"x", "y", "z"}
    regression = _pattern_blocks(_class_patterns([], edges, with_classes=False), names,
                                 ["prefrontal", "limbic", "other"], None, 20, "severity / edges",
                                 {"kind": "regression"})
    assert "a higher feature value goes with a higher predicted severity" in regression[0].caption
    assert "feature SDs per unit of predicted severity" in regression[0].caption


def test_pattern_error_bars_are_clipped_and_consistency_shown():
    import numpy as np

    from neurokit.report import _figures as F

    fig = F.plot_pattern_bars(["a", "b", "c"], [0.5, -0.2, 0.1], [0.1, 0.05, 1000.0],
                              consistency=[1.0, 0.9, 0.5])
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert high <= (1.5 + 1) * 0.5 * 1.05 + 1e-9 and low >= -high  # a 1000 SD cannot stretch the axis
    assert any(line.get_marker() == ">" for line in ax.lines)  # the clipped bar is marked
    assert [t.get_text() for t in ax.texts] == ["100%", "90%", "50%", "same sign"]
    assert np.isclose(F.label_px(ax.get_yticklabels()[0].get_fontsize()), F.MIN_LABEL_PX)


def test_verdict_opens_the_group_report(rendered):
    _, _, group = rendered
    html = group.read_text()
    assert html.index('<section id="verdict">') < html.index('<section id="overview">')
    verdict = html[html.index('<section id="verdict">'):html.index('<section id="overview">')]
    assert "4 of 6 runs usable (67%), from 2 participants; 2 not used." in verdict
    assert "<td>excluded: mean framewise displacement (mm) (limit 0.5, exclusion.max_mean_fd)</td><td>1</td>" in verdict
    assert "<td>failed in extract (ExtractError)</td><td>1</td>" in verdict
    assert "mean FD ~ severity" in verdict and "rho = 0.52, p = 0.01" in verdict
    assert "1 excluded, p = 0.4" in verdict
    # each model's own section names every test behind its p-value, with the floor
    assert "<dt>Permutation test</dt><dd>p = 0.040; smallest possible 1/(50+1)" in html
    assert "<dt>Beyond the confounds</dt><dd>partial r 0.31, permutation p = 0.020 (details below)" in html
    assert "<dt>p</dt><dd>0.04, by the rule max(permutation, beyond_confounds). p is the larger of" in html
    assert ("1 of 2 models significant after Benjamini-Hochberg correction across models (FDR p &lt; 0.05); "
            "p = max(permutation p, beyond-confounds p): significant only if a model beats its permutation null "
            "and also predicts the target beyond mean_fd, age, sex, site; p = the permutation p of the score (no "
            "test beyond the confounds). Smallest possible p: 1/(50+1) = 0.02.") in verdict
    assert "Models, significant first, then by FDR p" in verdict
    assert "<td>spearman 0.42 (chance 0)</td><td>0.040</td><td>partial r 0.31, p = 0.020</td>" in verdict
    assert "<td>balanced accuracy 0.55 (chance 0.5)</td><td>0.3</td><td>not tested</td>" in verdict


def test_verdict_counts_reasons_and_says_when_the_floor_limits():
    import pandas as pd

    from neurokit.report._verdict import unusable_reasons, verdict_section

    runs = pd.DataFrame({"run_id": list("abcde"), "subject": list("11223"),
                         "status": ["ok", "excluded", "excluded", "failed", "excluded"],
                         "reason": ["", "mean FD 0.62 mm > 0.5 mm", "mean FD 0.71 mm > 0.5 mm; only 8 tDOF left",
                                    "ExtractError in extract: truncated", "x"],
                         "stage_failed": ["", "", "", "extract", ""],
                         "rules": [[], [], [], [], ["fraction of volumes censored (limit 0.5, "
                                                    "exclusion.max_censored_fraction)"]]})
    assert unusable_reasons(runs) == [("excluded: mean FD", 2), (
        "excluded: fraction of volumes censored (limit 0.5, exclusion.max_censored_fraction)", 1),
        ("excluded: only", 1), ("failed in extract (ExtractError)", 1)]
    models = [(None, {"target": "t", "feature_set": f, "primary_metric": "spearman", "p_value": 1 / 21,
                      "p_value_fdr": 0.06, "n_permutations": 20, "scores": {"spearman": {"mean": 0.6}}})
              for f in ("a", "b")]
    section = verdict_section(runs, None, models)
    grid, models_part = section.blocks
    runs_part, confounds_part = grid.blocks
    assert "no group/confounds.json yet" in confounds_part.blocks[0].text
    assert models_part.blocks[0].text.startswith("0 of 2 models significant after Benjamini-Hochberg correction")
    assert "The permutation floor limits the result" in models_part.blocks[0].text
    # nothing significant: the table is not captioned "significant first"
    assert models_part.blocks[1].caption == "Models, by FDR p (none significant)"
    assert models_part.blocks[1].rows[0][1:3] == ["spearman 0.6 (chance 0)", "0.048"]


def test_group_report_reads_per_class_patterns_beside_patterns(tmp_path):
    from neurokit.report._group import _read_patterns

    classes = ["x", "y", "z"]
    table = _class_patterns(classes, ["f1", "f2"])
    table[table["class"] == ""].drop(columns="class").to_csv(tmp_path / "patterns.tsv", sep="\t", index=False)
    assert "class" not in _read_patterns(tmp_path)  # a regression or binary model: patterns.tsv alone
    table[table["class"] != ""].to_csv(tmp_path / "patterns_by_class.tsv", sep="\t", index=False)
    combined = _read_patterns(tmp_path)
    assert list(combined["class"]) == ["", "", "x", "x", "y", "y", "z", "z"]


def _count_renders(monkeypatch) -> list[str]:
    """Titles of the participant pages rendered from now on."""
    from neurokit.report import _participant

    rendered, render = [], _participant.render

    def counting(template, **context):
        rendered.append(context["title"])
        return render(template, **context)

    monkeypatch.setattr(_participant, "render", counting)
    return rendered


def _states(paths) -> dict:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in paths}


@pytest.mark.slow
def test_participant_reports_rerender_only_what_changed(tmp_path, monkeypatch):
    import json

    bids, out, config = fabricate_outputs(tmp_path, n_subjects=4, n_volumes=40, with_group=False, xss_site=False)
    paths = write_participant_reports(out, bids_dir=bids, config=config)
    first = _states(paths)
    fingerprint = json.loads((out / "logs" / "reports" / "sub-01.json").read_text())
    assert fingerprint["report"] == "sub-01.html" and len(fingerprint["fingerprint"]) == 16
    rendered = _count_renders(monkeypatch)

    assert write_participant_reports(out, bids_dir=bids, config=config) == paths
    assert rendered == [] and _states(paths) == first  # nothing changed: not a byte rewritten

    # a run's output changed (its QC): that participant only
    qc = sorted((out / "sub-02").rglob("*desc-qc_metrics.json"))[0]
    doc = json.loads(qc.read_text())
    doc["mean_fd"] = 0.777
    qc.write_text(json.dumps(doc))
    write_participant_reports(out, bids_dir=bids, config=config)
    assert rendered == ["sub-02"] and "0.777" in (out / "sub-02.html").read_text()

    # the phenotype row shown: that participant only
    pheno = bids / "participants.tsv"
    pheno.write_text(pheno.read_text().replace("sub-03\t", "sub-03\t77"))  # its age changes
    rendered.clear()
    write_participant_reports(out, bids_dir=bids, config=config)
    assert rendered == ["sub-03"]

    # a setting the report shows (report section, outside the results' config hash): every participant
    rendered.clear()
    write_participant_reports(out, bids_dir=bids, config=config.updated({"report.low_coverage_fraction": 0.3}))
    assert rendered == ["sub-01", "sub-02", "sub-03", "sub-04"]
    # ... and one that shapes the results (a new config hash)
    rendered.clear()
    changed = config.updated({"denoise.fd_threshold": 0.3})
    write_participant_reports(out, bids_dir=bids, config=changed)
    assert len(rendered) == 4

    # a deleted page, a lost fingerprint, or force
    rendered.clear()
    (out / "sub-01.html").unlink()
    (out / "logs" / "reports" / "sub-04.json").unlink()
    write_participant_reports(out, bids_dir=bids, config=changed)
    assert rendered == ["sub-01", "sub-04"]
    rendered.clear()
    write_participant_reports(out, bids_dir=bids, config=changed, force=True)
    assert len(rendered) == 4


def test_participant_report_does_not_depend_on_other_participants(tmp_path):
    """Rendered early, a page must come out the same whichever other runs exist (order of completion)."""
    import json

    bids, out, config = fabricate_outputs(tmp_path, n_subjects=4, n_volumes=40, with_group=False, xss_site=False)
    from neurokit.report._participant import report_context, report_fingerprint, _runs_by_subject
    from neurokit.io import completed_runs, read_failures

    context = report_context(out, bids_dir=bids, config=config)
    before = report_fingerprint("01", _runs_by_subject(completed_runs(out), read_failures(out))["01"], context)
    record = sorted((out / "logs" / "runs").glob("sub-02*.json"))[0]
    doc = json.loads(record.read_text())
    doc["summary"] = {k: v + 5.0 for k, v in doc["summary"].items()}  # another participant far from the rest
    record.write_text(json.dumps(doc))
    after = report_fingerprint("01", _runs_by_subject(completed_runs(out), read_failures(out))["01"], context)
    assert before == after
    html = write_participant_reports(out, bids_dir=bids, config=config)[0].read_text()
    assert "this participant&#39;s 1 other included run(s)" in html and "group report" in html
    # the group comparison moved to the group report, which names the outlying run
    group = write_group_report(out, bids_dir=bids, config=config).read_text()
    section = group[group.index('id="indices"'):]
    assert "robust z" in section and doc["run_id"] in section and "../sub-02.html" in section


def test_fixtures_are_written_by_the_pipelines_record_classes(rendered):
    from neurokit.io import DerivativeNames, FailureRow, RunQC, RunRecord, completed_runs, read_failures

    out = rendered[0]
    records = completed_runs(out)
    assert records
    for data in records:
        record = RunRecord.from_dict(data)
        assert record.extra == {} and record.output_bytes  # the pipeline's keys and output sizes, nothing else
        qc = RunQC.read(record.outputs["qc"])
        assert qc.extra == {} and qc.run_id == record.run_id
        # the pipeline's file names: seg-<atlas>, desc-<strategy>
        names = DerivativeNames(out, _run_of(record), qc.atlas, qc.strategy)
        assert record.outputs["relmat:correlation"] == str(names.relmat("correlation"))
    rows = [FailureRow.from_dict(r) for r in read_failures(out).to_dict("records")]
    assert {r.error_type for r in rows if r.status == "excluded"} == {"Exclusion"}
    assert [r for r in rows if r.status == "excluded"] == [FailureRow.excluded(r) for r in records
                                                            if r["status"] == "excluded"]


def _run_of(record):
    from pathlib import Path

    from neurokit.io import Run

    return Run(tuple(record.entities.items()), Path(record.bold), None, Path(record.inputs["confounds"]), None,
               Path("mask.nii.gz"), 2.0, 60)


def test_null_legend_sits_above_the_observed_line():
    import numpy as np

    from neurokit.report import _figures as F

    rng = np.random.default_rng(0)
    for observed in (0.05, 0.25, 0.45):  # left, middle, right: wherever the line falls
        fig = F.plot_null(rng.normal(0.25, 0.05, 500), observed, metric="balanced_accuracy", chance=0.25)
        fig.canvas.draw()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        assert legend.y0 >= ax.get_window_extent().y1 - 1  # outside the plotting area, so it covers no line
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            "permutation null", "chance 0.25", f"observed {observed:.3f}"]


def test_motion_caption_names_the_dashed_limit_only_when_drawn():
    import pandas as pd

    from neurokit.config import Config
    from neurokit.report._group import _motion_section

    runs = pd.DataFrame({"status": ["ok"] * 4, "mean_fd": [0.1, 0.2, 0.3, 0.15], "percent_censored": [0.0] * 4,
                         "stage": ["control", "active", "control", "active"], "site": list("AABB")})
    without = _motion_section(runs, Config()).blocks[0].caption
    assert "dashed" not in without and "no mean-FD exclusion limit is set (exclusion.max_mean_fd: null)" in without
    limited = _motion_section(runs, Config().updated({"exclusion.max_mean_fd": 0.4})).blocks[0].caption
    assert "dashed: the exclusion limit (0.4 mm, exclusion.max_mean_fd)" in limited


def test_patterns_of_a_near_constant_output_are_shown_relative_to_the_strongest():
    import pandas as pd

    from neurokit.report._group import _pattern_blocks

    # patterns of hundreds with SDs larger still, as a model whose output barely varies gives
    patterns = pd.DataFrame({"level": "feature", "name": ["bdnf", "hrv"], "network": "", "n_features": 1,
                             "mean": [212.9, -80.0], "sd": [290.7, 40.0], "abs_mean": [212.9, 80.0],
                             "sign_consistency": [0.6, 0.9]})
    (figure,) = _pattern_blocks(patterns, [], [], None, 20, "severity / biomarkers", {"kind": "regression"})
    assert "strongest feature is ±1" in figure.caption
    assert "1 on this scale is 213 feature SDs per unit of predicted severity." in figure.caption
    import base64
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(base64.b64decode(figure.uri.split(",", 1)[1]))).size[0] > 0
    from neurokit.report import _figures as F
    from neurokit.report._group import _relative_patterns

    scaled, scales = _relative_patterns(patterns, pd.Series("", index=patterns.index))
    assert scaled["mean"].tolist() == pytest.approx([1.0, -80.0 / 212.9])
    assert scaled["sd"].tolist() == pytest.approx([290.7 / 212.9, 40.0 / 212.9]) and scales == {"overall": 212.9}
    fig = F.plot_pattern_bars(scaled["name"], scaled["mean"], scaled["sd"])
    low, high = fig.axes[0].get_xlim()
    assert -3 < low and high < 3  # the axis reads in units of the strongest feature, not hundreds


def test_phenotype_units_come_from_the_sidecars_only(tmp_path):
    import json

    from neurokit.config import Config
    from neurokit.report._common import phenotype_units, with_unit

    (tmp_path / "phenotype").mkdir()
    (tmp_path / "participants.json").write_text(json.dumps({"age": {"Units": "year"}, "sex": {"Levels": {}}}))
    (tmp_path / "phenotype" / "scores.tsv").write_text("participant_id\tket_sev\tbdnf\nsub-01\t3\t20\n")
    (tmp_path / "phenotype" / "scores.json").write_text(json.dumps({"ket_sev": {"Units": "points"},
                                                                    "bdnf": {"Description": "no unit given"}}))
    (tmp_path / "sub-01").mkdir()
    (tmp_path / "sub-01" / "sub-01_sessions.json").write_text("{not json")  # unreadable: skipped
    config = Config().updated({"columns.severity": "ket_sev"})
    units = phenotype_units(tmp_path, config)
    assert units == {"age": "year", "severity": "points"}  # the role's name, the lab's unit; bdnf has none
    assert with_unit("age", units) == "age (year)" and with_unit("bdnf", units) == "bdnf"
    assert phenotype_units(None, config) == {} and phenotype_units(tmp_path / "missing", config) == {}
