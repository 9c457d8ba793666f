"""The methods paragraph: what was done, generated from the resolved configuration, with citations.

Like fMRIPrep's boilerplate, it is meant to be pasted into a paper and edited.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["REFERENCES", "methods_text"]

#: Citations by key; ``methods_text`` returns those it used, in order of first use.
REFERENCES = {
    "fmriprep": "Esteban O, et al. (2019) fMRIPrep: a robust preprocessing pipeline for functional MRI. "
                "Nat Methods 16:111-116, doi:10.1038/s41592-018-0235-4.",
    "nilearn": "Abraham A, et al. (2014) Machine learning for neuroimaging with scikit-learn. "
               "Front Neuroinform 8:14, doi:10.3389/fninf.2014.00014 (nilearn).",
    "load_confounds": "Wang HT, et al. (2024) Continuous evaluation of denoising strategies in resting-state fMRI "
                      "connectivity using fMRIPrep and Nilearn. PLoS Comput Biol 20:e1011942, "
                      "doi:10.1371/journal.pcbi.1011942.",
    "friston24": "Friston KJ, et al. (1996) Movement-related effects in fMRI time-series. Magn Reson Med 35:346-355.",
    "compcor": "Behzadi Y, et al. (2007) A component based noise correction method (CompCor) for BOLD and "
               "perfusion based fMRI. NeuroImage 37:90-101.",
    "power2012": "Power JD, et al. (2012) Spurious but systematic correlations in functional connectivity MRI "
                 "networks arise from subject motion. NeuroImage 59:2142-2154.",
    "power2014": "Power JD, et al. (2014) Methods to detect, characterize, and remove motion artifact in resting "
                 "state fMRI. NeuroImage 84:320-341.",
    "ledoit_wolf": "Ledoit O, Wolf M (2004) A well-conditioned estimator for large-dimensional covariance "
                   "matrices. J Multivar Anal 88:365-411.",
    "oas": "Chen Y, et al. (2010) Shrinkage algorithms for MMSE covariance estimation. "
           "IEEE Trans Signal Process 58:5016-5029.",
    "tangent": "Varoquaux G, et al. (2010) Detection of brain functional-connectivity difference in post-stroke "
               "patients using group-level covariance modeling. MICCAI 2010, LNCS 6361:200-208.",
    "qcfc": "Ciric R, et al. (2017) Benchmarking of participant-level confound regression strategies for the "
            "control of motion artifact in studies of functional connectivity. NeuroImage 154:174-187.",
    "parkes": "Parkes L, et al. (2018) An evaluation of the efficacy, reliability, and sensitivity of motion "
              "correction strategies for resting-state functional MRI. NeuroImage 171:415-436.",
    "sklearn": "Pedregosa F, et al. (2011) Scikit-learn: machine learning in Python. J Mach Learn Res 12:2825-2830.",
    "combat": "Johnson WE, et al. (2007) Adjusting batch effects in microarray expression data using empirical "
              "Bayes methods. Biostatistics 8:118-127; Fortin JP, et al. (2018) Harmonization of cortical "
              "thickness measurements across scanners and sites. NeuroImage 167:104-120.",
    "haufe": "Haufe S, et al. (2014) On the interpretation of weight vectors of linear models in multivariate "
             "neuroimaging. NeuroImage 87:96-110.",
    "dinga": "Dinga R, et al. (2020) Controlling for effects of confounding variables on machine learning "
             "predictions. bioRxiv, doi:10.1101/2020.08.17.255034.",
    "freedman_lane": "Freedman D, Lane D (1983) A nonstochastic interpretation of reported significance levels. "
                     "J Bus Econ Stat 1:292-298.",
    "berger": "Berger RL (1982) Multiparameter hypothesis testing and acceptance sampling. Technometrics "
              "24:295-300.",
    "glover": "Glover GH, Li TQ, Ress D (2000) Image-based method for retrospective correction of physiological "
              "motion effects in fMRI: RETROICOR. Magn Reson Med 44:162-167.",
    "harvey": "Harvey AK, et al. (2008) Brainstem functional magnetic resonance imaging: disentangling signal from "
              "physiological noise. J Magn Reson Imaging 28:1337-1344.",
    "birn2006": "Birn RM, et al. (2006) Separating respiratory-variation-related fluctuations from "
                "neuronal-activity-related fluctuations in fMRI. NeuroImage 31:1536-1548.",
    "birn2008": "Birn RM, et al. (2008) The respiration response function: the temporal dynamics of fMRI signal "
                "fluctuations related to changes in respiration. NeuroImage 40:644-654.",
    "chang2009": "Chang C, Cunningham JP, Glover GH (2009) Influence of heart rate on the BOLD signal: the cardiac "
                 "response function. NeuroImage 44:857-869.",
    "bh": "Benjamini Y, Hochberg Y (1995) Controlling the false discovery rate: a practical and powerful approach "
          "to multiple testing. J R Stat Soc B 57:289-300.",
}

_COV = {"ledoit_wolf": ("Ledoit-Wolf shrinkage", "ledoit_wolf"), "oas": ("oracle approximating shrinkage", "oas"),
        "empirical": ("empirical (maximum-likelihood)", None)}
_EXPANSION = {"basic": "", "derivatives": " with temporal derivatives", "power2": " with quadratic terms",
              "full": " with temporal derivatives, quadratic terms and squared derivatives"}
_MOTION = {"basic": "6 rigid-body motion parameters", "derivatives": "12 motion parameters (6 plus derivatives)",
           "power2": "12 motion parameters (6 plus squares)",
           "full": "24 motion parameters (6, their derivatives and squares of both)"}


def _significance_text(n_permutations: int, tests, cite) -> str:
    """How the models were tested: the score against chance and its permutation null, the test beyond
    the confounds and the rule combining them, as the fitted models recorded them."""
    text = (f"Each model's cross-validated score (Spearman correlation for continuous targets, balanced "
            f"accuracy for classes; chance: 0 and 1/K) was compared with {n_permutations} permutations of the "
            f"target through the whole pipeline, participants permuted as blocks (p = (k+1)/({n_permutations}+1), "
            f"smallest possible 1/({n_permutations}+1)).")
    beyond = [t for t in tests if t.p_beyond is not None]
    if beyond:
        confounds = list(dict.fromkeys(c for t in beyond for c in t.confounds))
        models = list(dict.fromkeys(t.confound_model for t in beyond if t.confound_model))
        effects = list(dict.fromkeys(t.effect_label for t in beyond))
        text += (f" The out-of-fold predictions were then tested beyond the confounds ({', '.join(confounds)}) "
                 f"{cite('dinga')}: the target modelled from the confounds alone ({'; '.join(models)}) against the "
                 f"same model with the prediction added, the effect measured as {' or '.join(effects)} "
                 "(partial correlation for continuous targets, gain in deviance explained for classes), its "
                 f"p-value from permutations of the prediction's residual on the confounds {cite('freedman_lane')}.")
    rules = list(dict.fromkeys(t.rule for t in tests))
    if any(r.startswith("max(") for r in rules):
        text += (f" A model's p-value was the larger of the two (an intersection-union test {cite('berger')}), "
                 "so a model counts as significant only if it beats its permutation null and also predicts the "
                 "target beyond the confounds.")
    elif tests:
        text += " " + " ".join(dict.fromkeys(t.rule_text for t in tests))
    return text + f" p-values were corrected across models with the Benjamini-Hochberg false discovery rate {cite('bh')}."


def _physio_sentence(config, cite) -> str:
    """What a '+physio' strategy regressed (neurokit.physio.physio_regressors), with its citations."""
    rg = config.physio.regressors
    terms = []
    phases = [f"{name} (order {order})" for name, order in (("cardiac", rg.cardiac_order),
                                                              ("respiratory", rg.respiratory_order)) if order]
    if phases:
        terms.append(f"RETROICOR Fourier terms of the {' and '.join(phases)} phase {cite('glover')}"
                     + (f" with their order-{rg.interaction_order} interaction terms {cite('harvey')}"
                        if rg.interaction_order else ""))
    if rg.rvt:
        terms.append(f"respiration volume per time convolved with the respiration response function "
                     f"{cite('birn2006', 'birn2008')}")
    if rg.hr:
        terms.append(f"heart rate convolved with the cardiac response function {cite('chang2009')}")
    listed = ", ".join(terms[:-1]) + (" and " if len(terms) > 1 else "") + terms[-1]
    return (f"Physiological noise regressors from each run's pulse and respiratory recordings, sampled at each "
            f"volume's acquisition time, were added to the confounds: {listed}; runs without a usable recording "
            "were cleaned with the other confounds only.")


class _Cite:
    def __init__(self):
        self.keys: list[str] = []

    def __call__(self, *keys: str) -> str:
        numbers = []
        for key in keys:
            if key not in self.keys:
                self.keys.append(key)
            numbers.append(str(self.keys.index(key) + 1))
        return "[" + ", ".join(numbers) + "]"


def methods_text(config, *, atlas_metadata: Mapping[str, Any] | None = None,
                 strategy_details: Mapping[str, Any] | None = None, atlas_name: str | None = None,
                 versions: Mapping[str, str] | None = None, group: bool = False,
                 space_note: str | None = None, tests=None) -> tuple[list[str], list[str]]:
    """Methods paragraphs and their numbered references, from what the participant level recorded.

    The confounds and censoring are described from ``strategy_details``, the parameters a run
    recorded, and the atlas by the name it recorded; the configuration gives the rest (signal
    cleaning, exclusion, connectivity, models).

    Parameters
    ----------
    config : neurokit.config.Config
        The resolved configuration that produced the derivatives.
    atlas_metadata : mapping, optional
        The atlas's ``atlas.json`` (``Description``, ``Reference``); without it only the name is given.
    strategy_details : mapping, optional
        ``StrategyDetails`` of a run's time-series sidecar (what the preset resolved to). Without
        one (no run recorded it), the modelled strategy is resolved by
        :func:`neurokit.denoise.resolve_strategy`, the rule the participant level records.
    atlas_name : str, optional
        ``Atlas`` of a run's sidecar (the resolved atlas name); default ``config.atlas.name``.
    versions : mapping of str to str, optional
        Software versions (``SoftwareVersions`` of a sidecar).
    group : bool, default=False
        Add the group-level paragraph (QC-FC, models).
    space_note : str, optional
        :func:`neurokit.report._common.atlas_space_note` when the atlas's space differs from the runs'.
    tests : sequence of neurokit.report._tested.ModelTests, optional
        What each fitted model's ``metrics.json`` says was tested (group paragraph): the
        confounds, the confound model and the rule that made the p-value; without them the
        paragraph names only the permutation test the configuration sets.

    Returns
    -------
    paragraphs : list of str
        Plain text with bracketed citation numbers.
    references : list of str
        Reference ``i`` is cited as ``[i + 1]``.
    """
    cite = _Cite()
    dn, cx, ex = config.denoise, config.connectivity, config.exclusion
    if strategy_details:
        details = dict(strategy_details)
    else:
        from neurokit.denoise import resolve_strategy

        details = resolve_strategy(**dn.select_kwargs(config.modelled_strategy))
    versions = dict(versions or {})
    meta = dict(atlas_metadata or {})
    nk = versions.get("neurokit")
    nl = versions.get("nilearn")

    atlas_ref = ""
    if meta.get("Reference"):
        atlas_ref = " " + cite("atlas:" + str(meta["Reference"]))
    desc = f" ({meta['Description'].rstrip('.')})" if meta.get("Description") else ""
    atlas_name = atlas_name or config.atlas.name
    p1 = (
        f"Functional connectivity was computed with neurokit{f' {nk}' if nk else ''} from BOLD runs preprocessed "
        f"with fMRIPrep {cite('fmriprep')} in {config.inputs.space} space. Mean signals of the regions of the "
        f"'{atlas_name}' atlas{desc}{atlas_ref} were extracted within each run's brain mask; regions with "
        f"fewer than {config.atlas.min_voxels} voxels inside the mask "
        + ("were dropped and reported." if config.atlas.drop_empty_regions else "made the run fail.")
    )
    if space_note:
        text = space_note.split(": ", 1)[-1]
        p1 += " " + text[0].upper() + text[1:]

    strategy = details["strategy"]
    motion, wm_csf, gs = details.get("motion"), details.get("wm_csf"), details.get("global_signal")
    parts = []
    if motion:
        text = _MOTION.get(motion, f"motion parameters ({motion})")
        parts.append(text + (f" {cite('friston24')}" if motion == "full" else ""))
    if details.get("compcor"):
        n = details["n_compcor"]
        count = "all retained" if n == "all" else (f"components explaining {n:.0%} of variance" if isinstance(n, float)
                                                    else f"{n}")
        parts.append(f"{count} {details['compcor'].replace('_', ' ')} CompCor components {cite('compcor')}")
    elif wm_csf:
        parts.append(f"mean white-matter and CSF signals{_EXPANSION.get(wm_csf, '')}")
    if gs:
        parts.append(f"the global signal{_EXPANSION.get(gs, '')}")
    parts.append(f"fMRIPrep's {details.get('high_pass') or 'cosine regressors'} (high-pass)")
    p2 = (
        f"Confounds were selected from fMRIPrep's confounds table with the '{strategy}' strategy, equivalent to "
        f"nilearn's load_confounds_strategy preset {cite('nilearn', 'load_confounds')}: "
        + ", ".join(parts)
        + (f" ({details['n_regressors']} regressors in a typical run)" if details.get("n_regressors") else "")
        + ". Non-steady-state volumes flagged by fMRIPrep were removed."
    )
    if details.get("physio"):
        p2 += " " + _physio_sentence(config, cite)
    others = [name for name in config.strategies if name != strategy]
    if others:
        p2 += (f" The same region signals were also cleaned with the {', '.join(repr(n) for n in others)} "
               f"strateg{'ies' if len(others) > 1 else 'y'} for the denoising benchmark; the models used '{strategy}'.")
    if "scrub" in details:  # recorded by the scrubbing presets only
        crit = []
        if details.get("fd_threshold") is not None:
            crit.append(f"framewise displacement above {details['fd_threshold']:g} mm {cite('power2012')}")
        if details.get("std_dvars_threshold") is not None:
            crit.append(f"standardised DVARS above {details['std_dvars_threshold']:g}")
        scrub = details["scrub"]
        p2 += (" Volumes with " + " or ".join(crit) + " were censored" if crit else " No volume was censored") + (
            f", together with uncensored segments shorter than {scrub} volumes {cite('power2014')}." if scrub
            else ".")
    steps = []
    if dn.detrend:
        steps.append("linearly detrended")
    if dn.high_pass or dn.low_pass:
        band = (f"band-pass filtered ({dn.high_pass:g}-{dn.low_pass:g} Hz" if dn.high_pass and dn.low_pass else
                f"high-pass filtered ({dn.high_pass:g} Hz" if dn.high_pass else f"low-pass filtered ({dn.low_pass:g} Hz")
        steps.append(band + f", {dn.filter})")
    steps.append("regressed on the confounds (filtered alike) in one step")
    if dn.standardize != "none":
        steps.append(f"standardised ({dn.standardize})")
    p2 += (f" Region signals were {', '.join(steps)}, as in nilearn's signal.clean"
           f"{f' (nilearn {nl})' if nl else ''} {cite('nilearn')}; censored volumes were left out.")
    rules = []
    if ex.max_mean_fd is not None:
        rules.append(f"mean framewise displacement above {ex.max_mean_fd:g} mm {cite('power2012')}")
    if ex.max_censored_fraction is not None:
        rules.append(f"more than {ex.max_censored_fraction:.0%} of volumes censored")
    rules.append(f"fewer than {dn.min_volumes} volumes left")
    p2 += " Runs were excluded for " + ", ".join(rules[:-1]) + (" or " if len(rules) > 1 else "") + rules[-1] + "."

    est, key = _COV.get(cx.covariance_estimator, (cx.covariance_estimator, None))
    if cx.covariance_estimator == "shrunk":  # Ledoit & Wolf (2004)'s target, with a weight fixed across runs
        est, key = f"fixed-shrinkage ({cx.shrinkage:g} towards the scaled identity, the same in every run)", "ledoit_wolf"
    measures = ", ".join(cx.measures)
    p3 = (f"Connectivity ({measures}) was estimated with the {est} covariance estimator"
          + (f" {cite(key)}" if key else "")
          + (f"; tangent-space embedding {cite('tangent')} was fitted within each cross-validation training set"
             if "tangent" in cx.measures else "")
          + ". Correlations were Fisher z-transformed, and the prefrontal-limbic summary indices are the mean "
            "Fisher z within the prefrontal network, within the limbic network and between the two.")
    paragraphs = [p1, p2, p3]
    if group:
        md = config.models
        p4 = (f"Residual motion was assessed with QC-FC, the correlation across runs of each edge with mean "
              f"framewise displacement, and its dependence on the distance between regions {cite('qcfc', 'parkes')}. "
              f"Predictive models ({', '.join(md.targets)}) were fitted with scikit-learn {cite('sklearn')} "
              f"(estimator: {md.estimator or 'ridge regression / ridge classification'}) on the feature sets "
              f"{', '.join(md.feature_sets)}, in {md.cv_repeats} repeats of {md.cv_folds}-fold cross-validation "
              f"grouped by participant (folds drawn from the participants alone, not the target)"
              + (f", regressing out {', '.join(md.covariates)} within each fold" if md.covariates else "")
              + (f", with ComBat site harmonisation within each fold {cite('combat')}" if md.harmonize_site else "")
              + ". Edge features were the Fisher z-transformed correlations (z = artanh r) of each region pair, "
                "standardised within each training fold. " + _significance_text(md.n_permutations, tests or (), cite)
              + f" Model weights were read as activation patterns {cite('haufe')} (covariance of each standardised "
                "feature with the model's output divided by the output's variance), one vs rest per class for "
                "targets with more than two classes; the report shows them relative to the model's largest "
                "weight, since their scale follows that of the output.")
        paragraphs.append(p4)
    references = [k[len("atlas:"):] if k.startswith("atlas:") else REFERENCES[k] for k in cite.keys]
    return paragraphs, references
