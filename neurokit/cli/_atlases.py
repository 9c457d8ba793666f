"""List, show, validate or add atlases.

  neurokit atlases list                 name, type, regions, space, origin; networks and licence in full
  neurokit atlases show NAME            the region table
  neurokit atlases validate PATH [--mask MASK.nii.gz]
  neurokit atlases add PATH [--dest DIR] [--force]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``atlases`` sub-commands to ``parser``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="action", metavar="{list,show,validate,add}", required=True)
    sub.add_parser("list", help="list available atlases")
    p = sub.add_parser("show", help="print an atlas's region table")
    p.add_argument("name", help="atlas name or folder")
    p = sub.add_parser("validate", help="check an atlas folder (and its coverage on a brain mask)")
    p.add_argument("path", help="atlas folder holding atlas.json")
    p.add_argument("--mask", help="brain mask NIfTI: check every region keeps voxels on its grid")
    p.add_argument("--min-voxels", type=int, default=5, help="fewest in-mask voxels per region (default 5)")
    p = sub.add_parser("add", help="validate an atlas folder and copy it into your atlas path")
    p.add_argument("path", help="atlas folder holding atlas.json")
    p.add_argument("--dest", help="atlas path to copy into (default: first NEUROKIT_ATLAS_PATH entry, "
                                  "else ~/.local/share/neurokit/atlases)")
    p.add_argument("--force", action="store_true", help="replace an atlas of the same name there")


def _wrapped(label: str, text: str, width: int) -> list[str]:
    """``label: text`` indented under a table row, wrapped at word boundaries to ``width`` columns.

    Nothing is cut: a licence's restriction ("non-commercial use") is the word that matters.
    """
    import textwrap

    indent = "    "
    head = f"{indent}{label + ':':<10}"
    return textwrap.wrap(" ".join(str(text or "-").split()), width=max(width, len(head) + 20),
                         initial_indent=head, subsequent_indent=" " * len(head),
                         break_long_words=False, break_on_hyphens=False)


def _list(out) -> int:
    from neurokit.atlases._load import read_description
    from neurokit.atlases._registry import sources

    # the terminal's width (COLUMNS, else the terminal, else 80): long texts wrap below their row
    width = shutil.get_terminal_size((80, 24)).columns - 1
    rows = [("NAME", "TYPE", "REGIONS", "SPACE", "ORIGIN")]
    details: list[list[str]] = [[]]
    for name, (origin, folder) in sorted(sources().items()):
        try:
            meta, table = read_description(folder)
        except Exception as exc:  # a broken atlas is listed with its problem, not hidden
            rows.append((name, "BROKEN", "-", "-", origin))
            details.append(_wrapped("problem", str(exc), width))
            continue
        counts = table["network"].value_counts()
        nets = " ".join(f"{n}:{counts[n]}" for n in ("prefrontal", "limbic", "other") if n in counts)
        rows.append((name, meta["Type"], str(len(table)), meta["Space"], origin))
        details.append(_wrapped("networks", nets, width) + _wrapped("licence", meta.get("License"), width))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r, lines in zip(rows, details):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1], file=out)
        for line in lines:
            print(line, file=out)
    return 0


def _show(name: str, out) -> int:
    from neurokit.atlases import load

    atlas = load(name)
    meta = atlas.metadata
    print(f"{atlas.name}: {atlas.type} atlas in {atlas.space}, {atlas.n_regions} regions ({atlas.source})", file=out)
    for key in ("Description", "Reference", "License"):
        if meta.get(key):
            print(f"{key}: {meta[key]}", file=out)
    cols = ["index", "name", "network", "hemisphere", "x", "y", "z"] + [
        c for c in ("radius", "reference") if c in atlas.regions.columns
    ]
    print(atlas.regions[cols].to_string(index=False), file=out)
    return 0


def _validate(path: str, mask: str | None, min_voxels: int, out) -> int:
    from neurokit.atlases import check_coverage, load, validate

    notes = validate(path)
    for note in notes:
        print(f"note: {note}", file=out)
    atlas = load(path)
    print(f"OK: {atlas.name} ({atlas.type}, {atlas.n_regions} regions, space {atlas.space})", file=out)
    if mask:
        import nibabel as nib

        img = nib.load(mask)
        cov = check_coverage(atlas, img.affine, img.shape, img, min_voxels=min_voxels, drop_empty=True)
        print(cov.table[["index", "name", "network", "n_voxels", "fraction"]].to_string(index=False), file=out)
        if cov.dropped:
            print(f"FAIL: region(s) {', '.join(cov.dropped)} keep fewer than {min_voxels} voxels in {mask}.", file=out)
            return 1
        print(f"OK: every region keeps at least {min_voxels} voxels inside {mask}.", file=out)
    return 0


def _add(path: str, dest: str | None, force: bool, out) -> int:
    from neurokit.atlases import AtlasError, validate
    from neurokit.atlases._registry import user_atlas_dir

    src = Path(path).resolve()
    for note in validate(src):
        print(f"note: {note}", file=out)
    root = Path(dest).expanduser() if dest else user_atlas_dir()
    target = root / src.name
    if target.exists():
        if not force:
            raise AtlasError(f"{target} already exists; pass --force to replace it or rename {src}.")
        shutil.rmtree(target)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, target)
    print(f"added {src.name} -> {target}", file=out)
    if dest:
        print(f"note: add {root} to NEUROKIT_ATLAS_PATH so neurokit finds it.", file=out)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one ``neurokit atlases`` action; returns the exit code."""
    out = sys.stdout
    if args.action == "list":
        return _list(out)
    if args.action == "show":
        return _show(args.name, out)
    if args.action == "validate":
        return _validate(args.path, args.mask, args.min_voxels, out)
    return _add(args.path, args.dest, args.force, out)
