"""neurokit.extract: streamed region means equal numpy and nilearn; bad voxels and bad files."""

import gzip
import io
import warnings

import nibabel as nib
import numpy as np
import pytest

from neurokit._errors import NeurokitError
from neurokit.extract import ExtractError, Extraction, extract_signals
from neurokit.extract import _stream

SHAPE = (7, 8, 9)
N_VOLUMES = 23
AFFINE = np.array([[2.0, 0, 0, -7], [0, 2.5, 0, -10], [0, 0, 3.0, -13], [0, 0, 0, 1]])


# ---------------------------------------------------------------- helpers and fixtures


def write_nifti(path, raw, affine=AFFINE, *, slope=np.nan, inter=np.nan, endian="<",
                t_r=2.0, time_unit="sec"):
    """Write ``raw`` (x, y, z, t) byte for byte, with exactly these scaling fields."""
    header = nib.Nifti1Header(endianness=endian)
    header.set_data_shape(raw.shape)
    header.set_data_dtype(raw.dtype)
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    header.set_xyzt_units("mm", time_unit)
    if raw.ndim == 4:
        header.set_zooms(tuple(np.sqrt((affine[:3, :3] ** 2).sum(0))) + (t_r,))
    header["scl_slope"] = slope
    header["scl_inter"] = inter
    header["vox_offset"] = 352
    buffer = io.BytesIO()
    header.write_to(buffer)
    payload = buffer.getvalue()  # 348-byte header + 4-byte extension flag = vox_offset
    assert len(payload) == 352
    payload += raw.astype(raw.dtype.newbyteorder(endian)).tobytes(order="F")
    path = str(path)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(payload, compresslevel=1) if path.endswith(".gz") else payload)
    return path


def reference(data, labels, mask=None, region_ids=None):
    """Plain numpy: mean over finite, non-constant voxels of each region."""
    data = np.asarray(data, dtype=np.float64)
    usable = np.isfinite(data).all(-1)
    usable &= np.ptp(np.where(usable[..., None], data, 0), axis=-1) > 0
    in_atlas = labels != 0 if mask is None else (labels != 0) & mask
    ids = np.unique(labels[in_atlas]) if region_ids is None else np.asarray(region_ids)
    out = np.full((data.shape[-1], ids.size), np.nan)
    for j, r in enumerate(ids):
        sel = in_atlas & usable & (labels == r)
        if sel.any():
            out[:, j] = data[sel].mean(axis=0)
    return out


def nilearn_means(img, labels, mask=None):
    from nilearn.maskers import NiftiLabelsMasker

    labels_img = nib.Nifti1Image(labels.astype(np.int16), img.affine)
    mask_img = None if mask is None else nib.Nifti1Image(mask.astype(np.uint8), img.affine)
    masker = NiftiLabelsMasker(labels_img, mask_img=mask_img, strategy="mean")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return masker.fit_transform(img)


@pytest.fixture
def labels(rng):
    """Integer labels (7, 8, 9): regions 1-5 of random voxels, about a third background."""
    out = rng.integers(1, 6, size=SHAPE)
    out[rng.random(SHAPE) < 0.3] = 0
    return out


@pytest.fixture
def mask(rng):
    """A brain mask (7, 8, 9) leaving out a slab and some random voxels."""
    out = rng.random(SHAPE) > 0.15
    out[:, :, 0] = False
    return out


@pytest.fixture
def float_data(rng):
    """float32 BOLD-like data (7, 8, 9, 23): baseline + shared signal + noise."""
    base = rng.uniform(500, 1500, size=SHAPE)[..., None]
    shared = rng.normal(size=N_VOLUMES)
    return (base + 5 * shared + rng.normal(scale=10, size=SHAPE + (N_VOLUMES,))).astype(
        np.float32
    )


@pytest.fixture
def int_data(rng):
    """int16 raw values (7, 8, 9, 23)."""
    return rng.integers(-3000, 3000, size=SHAPE + (N_VOLUMES,)).astype(np.int16)


# ---------------------------------------------------------------- agreement


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("chunk_volumes", [1, 4, 23, None])
def test_float32_matches_numpy_and_nilearn(tmp_path, float_data, labels, mask, suffix,
                                           chunk_volumes):
    path = write_nifti(tmp_path / f"bold{suffix}", float_data)
    out = extract_signals(path, labels, mask, chunk_volumes=chunk_volumes)
    assert isinstance(out, Extraction)
    assert out.signals.dtype == np.float64
    assert out.signals.shape == (N_VOLUMES, 5)
    np.testing.assert_allclose(out.signals, reference(float_data, labels, mask), atol=1e-9)
    # nilearn averages float32 data in float32 (ULP 6e-5 at 1000): same values in float64 agree
    # within 1e-5; the float32 file itself agrees to float32 precision
    as_float64 = nib.Nifti1Image(nib.load(path).get_fdata(), AFFINE)
    np.testing.assert_allclose(out.signals, nilearn_means(as_float64, labels, mask),
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(out.signals, nilearn_means(nib.load(path), labels, mask),
                               rtol=1e-6)
    np.testing.assert_array_equal(out.region_ids, [1, 2, 3, 4, 5])
    expected_counts = [((labels == r) & mask).sum() for r in range(1, 6)]
    np.testing.assert_array_equal(out.voxel_counts, expected_counts)
    assert out.n_volumes == N_VOLUMES
    assert out.t_r == 2.0
    assert out.source == path
    assert out.mean_image is None


@pytest.mark.parametrize("chunk_volumes", [1, 5, None])
def test_int16_with_slope_matches_numpy_and_nilearn(tmp_path, int_data, labels, mask,
                                                    chunk_volumes):
    path = write_nifti(tmp_path / "bold.nii.gz", int_data, slope=0.25, inter=100.0)
    scaled = nib.load(path).get_fdata()
    np.testing.assert_allclose(scaled, int_data * 0.25 + 100.0)
    out = extract_signals(path, labels, mask, chunk_volumes=chunk_volumes)
    np.testing.assert_allclose(out.signals, reference(scaled, labels, mask), atol=1e-9)
    np.testing.assert_allclose(out.signals, nilearn_means(nib.load(path), labels, mask),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("slope", [np.nan, 0.0])
def test_nan_or_zero_slope_means_no_scaling(tmp_path, int_data, labels, slope):
    path = write_nifti(tmp_path / "bold.nii", int_data, slope=slope, inter=50.0)
    out = extract_signals(path, labels)
    np.testing.assert_allclose(out.signals, reference(int_data, labels), atol=1e-9)


@pytest.mark.parametrize(
    "dtype, endian",
    [(np.uint8, "<"), (np.int16, ">"), (np.uint16, "<"), (np.int32, "<"),
     (np.float64, "<"), (np.float32, ">")],
)
def test_dtypes_and_byte_order(tmp_path, rng, labels, dtype, endian):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        data = rng.integers(max(info.min, -1000), min(info.max, 1000), SHAPE + (N_VOLUMES,))
    else:
        data = rng.normal(100, 5, SHAPE + (N_VOLUMES,))
    data = data.astype(dtype)
    path = write_nifti(tmp_path / "bold.nii.gz", data, endian=endian)
    out = extract_signals(path, labels, chunk_volumes=6)
    np.testing.assert_allclose(out.signals, reference(data, labels), atol=1e-9)


def test_memory_does_not_grow_with_run_length(tmp_path, rng):
    """Peak traced allocation of a 10x longer run grows by far less than its data (11 MB)."""
    import tracemalloc

    grid = (20, 21, 22)
    labels = rng.integers(0, 4, size=grid)
    peaks = []
    for n_volumes in (30, 300):
        data = rng.normal(100, 5, size=grid + (n_volumes,)).astype(np.float32)
        path = write_nifti(tmp_path / f"run{n_volumes}.nii.gz", data)
        del data
        tracemalloc.start()
        try:
            extract_signals(path, labels, chunk_volumes=10, return_mean_image=True)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] - peaks[0] < 1e6


@pytest.mark.parametrize("high", [100, 32000])
def test_int16_sums_are_exact(rng, high):
    """Small int16 values are summed in float32 (exact below 2**24), large ones in float64."""
    grid = (10, 11, 12)  # one region of 1320 voxels: 32000 * 1320 > 2**24
    data = rng.integers(-high, high, size=grid + (9,)).astype(np.int16)
    out = extract_signals(nib.Nifti1Image(data, AFFINE), np.ones(grid, int), chunk_volumes=4)
    exact = data.astype(np.int64).reshape(-1, 9).sum(axis=0)
    np.testing.assert_array_equal(out.signals[:, 0], exact / 1320)  # exact sum / count


def test_in_memory_image_equals_file(tmp_path, float_data, labels, mask):
    path = write_nifti(tmp_path / "bold.nii.gz", float_data)
    from_file = extract_signals(path, labels, mask)
    in_memory = extract_signals(nib.Nifti1Image(float_data, AFFINE), labels, mask,
                                chunk_volumes=5)
    loaded = extract_signals(nib.load(path), labels, mask)
    np.testing.assert_allclose(in_memory.signals, from_file.signals, atol=1e-9)
    np.testing.assert_array_equal(loaded.signals, from_file.signals)
    assert in_memory.source == "<in-memory image>"
    assert loaded.source == path


@pytest.mark.parametrize("chunk_volumes", [3, None])
def test_mean_image_equals_temporal_mean(tmp_path, int_data, labels, chunk_volumes):
    path = write_nifti(tmp_path / "bold.nii.gz", int_data, slope=2.0, inter=-1.0)
    out = extract_signals(path, labels, chunk_volumes=chunk_volumes, return_mean_image=True)
    expected = nib.load(path).get_fdata().mean(-1)
    assert out.mean_image.dtype == np.float32
    assert out.mean_image.shape == SHAPE
    np.testing.assert_allclose(out.mean_image, expected, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("chunk_volumes", [3, 7, None])
@pytest.mark.parametrize("data_name", ["int_data", "float_data"])
def test_mean_image_of_evenly_spaced_volumes(tmp_path, request, data_name, labels, chunk_volumes):
    data = request.getfixturevalue(data_name)
    path = write_nifti(tmp_path / "bold.nii.gz", data, slope=2.0, inter=-1.0)
    n = data.shape[-1]
    out = extract_signals(path, labels, chunk_volumes=chunk_volumes, return_mean_image=True, mean_image_volumes=4)
    picked = np.unique(np.linspace(0, n - 1, 4).round().astype(int))
    assert picked[0] == 0 and picked[-1] == n - 1 and picked.size == 4
    expected = nib.load(path).get_fdata()[..., picked].mean(-1)
    np.testing.assert_allclose(out.mean_image, expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(out.mean_image_volumes, picked)
    # the region signals do not depend on it
    full = extract_signals(path, labels, chunk_volumes=chunk_volumes)
    np.testing.assert_array_equal(out.signals, full.signals)
    # as many volumes as the run has (or more): the plain temporal mean
    every = extract_signals(path, labels, return_mean_image=True, mean_image_volumes=n + 5)
    np.testing.assert_allclose(every.mean_image, nib.load(path).get_fdata().mean(-1), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4"])
def test_mean_image_volumes_must_be_a_positive_integer(tmp_path, int_data, labels, bad):
    path = write_nifti(tmp_path / "bold.nii.gz", int_data)
    with pytest.raises(ExtractError, match="mean_image_volumes"):
        extract_signals(path, labels, return_mean_image=True, mean_image_volumes=bad)


def test_stdlib_gzip_fallback_gives_same_result(tmp_path, monkeypatch, float_data, labels):
    import threading

    path = write_nifti(tmp_path / "bold.nii.gz", float_data)
    seen = []
    opener = _stream._igzip_threaded.open
    monkeypatch.setattr(_stream._igzip_threaded, "open", lambda *a, **k: seen.append(k["threads"]) or opener(*a, **k))
    before = threading.active_count()
    fast = extract_signals(path, labels, chunk_volumes=4, decompress_threads=1)
    assert seen == [1] and threading.active_count() == before
    single = extract_signals(path, labels, chunk_volumes=4)  # the default: no background thread
    assert seen == [1]
    monkeypatch.setattr(_stream, "_igzip_threaded", None)
    fallback = extract_signals(path, labels, chunk_volumes=4, decompress_threads=2)  # no threaded reader
    np.testing.assert_array_equal(fallback.signals, fast.signals)
    monkeypatch.setattr(_stream, "_igzip", None)
    monkeypatch.setattr(_stream, "_isal_zlib", None)
    with _stream.open_byte_stream(path) as stream:
        assert isinstance(stream, gzip.GzipFile)
    stdlib = extract_signals(path, labels, chunk_volumes=4)
    np.testing.assert_array_equal(single.signals, fast.signals)
    np.testing.assert_array_equal(stdlib.signals, fast.signals)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_decompress_threads_must_be_a_non_negative_integer(tmp_path, float_data, labels, bad):
    path = write_nifti(tmp_path / "bold.nii.gz", float_data)
    with pytest.raises(ExtractError, match="decompress_threads"):
        extract_signals(path, labels, decompress_threads=bad)


def test_partial_read_stops_the_decompression_thread(tmp_path, float_data):
    import threading

    path = write_nifti(tmp_path / "bold.nii.gz", float_data)
    header = _stream.read_bold_header(path)
    before = threading.active_count()
    chunks = list(_stream.iter_volume_chunks(header, 4, stop=10, threads=1))
    assert [t0 for t0, _ in chunks] == [0, 4, 8]
    assert chunks[-1][1].shape == (2, np.prod(SHAPE))
    np.testing.assert_array_equal(
        chunks[-1][1].reshape((2,) + SHAPE[::-1]).transpose(3, 2, 1, 0),
        float_data[..., 8:10],
    )
    assert threading.active_count() == before


def test_stdlib_fallback_reports_truncation(tmp_path, monkeypatch, float_data, labels):
    path = write_nifti(tmp_path / "bold.nii.gz", float_data)
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[: len(raw) // 2])
    for name in ("_igzip_threaded", "_igzip", "_isal_zlib"):
        monkeypatch.setattr(_stream, name, None)
    with pytest.raises(ExtractError, match="truncated or corrupt"):
        extract_signals(path, labels)


# ---------------------------------------------------------------- excluded voxels


def _bad_voxels(data, labels):
    """Spoil voxels of region 2 and 3 in several ways; region 4 entirely constant."""
    data = data.copy()
    r2 = np.argwhere(labels == 2)
    r3 = np.argwhere(labels == 3)
    data[tuple(r2[0])] = np.nan  # NaN in every volume
    data[tuple(r2[1]) + (0,)] = np.nan  # NaN in the first volume only
    data[tuple(r2[2]) + (17,)] = np.nan  # NaN late: found after earlier chunks were summed
    data[tuple(r3[0]) + (N_VOLUMES - 1,)] = np.inf  # inf in the last volume
    data[tuple(r3[1])] = 7.0  # constant
    data[tuple(r3[2])] = 0.0  # constant zero (outside-brain style)
    data[tuple(r3[3])] = 5.0
    data[tuple(r3[3]) + (9,)] = np.nan  # constant then NaN: counted as NaN, once
    data[labels == 4] = 123.0  # a region with no usable voxel at all
    return data


@pytest.mark.parametrize("chunk_volumes", [1, 4, 10, None])
@pytest.mark.parametrize("in_memory", [False, True])
def test_nonfinite_and_constant_voxels_are_excluded_exactly(tmp_path, float_data, labels,
                                                            chunk_volumes, in_memory):
    data = _bad_voxels(float_data, labels)
    bold = nib.Nifti1Image(data, AFFINE)
    if not in_memory:
        bold = write_nifti(tmp_path / "bold.nii.gz", data)
    out = extract_signals(bold, labels, chunk_volumes=chunk_volumes, return_mean_image=True)
    np.testing.assert_allclose(out.signals, reference(data, labels), atol=1e-8, equal_nan=True)
    assert np.isnan(out.signals[:, 3]).all()
    assert np.isfinite(out.signals[:, [0, 1, 2, 4]]).all()
    assert out.excluded_voxels[2] == {"nan": 3, "constant": 0}
    assert out.excluded_voxels[3] == {"nan": 2, "constant": 2}
    assert out.excluded_voxels[4] == {"nan": 0, "constant": int((labels == 4).sum())}
    assert out.excluded_voxels[1] == {"nan": 0, "constant": 0}
    assert out.voxel_counts[1] == (labels == 2).sum() - 3
    assert out.voxel_counts[3] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(out.mean_image, data.astype(np.float64).mean(-1),
                                   rtol=1e-6, atol=1e-4, equal_nan=True)


def test_region_ids_order_and_missing_region(float_data, labels):
    img = nib.Nifti1Image(float_data, AFFINE)
    out = extract_signals(img, labels, region_ids=[3, 1, 42])
    np.testing.assert_array_equal(out.region_ids, [3, 1, 42])
    ref = reference(float_data, labels, region_ids=[3, 1])
    np.testing.assert_allclose(out.signals[:, :2], ref, atol=1e-9)
    assert np.isnan(out.signals[:, 2]).all()
    assert out.voxel_counts[2] == 0
    assert out.excluded_voxels[42] == {"nan": 0, "constant": 0}


def test_labels_as_image_path_and_atlas_like(tmp_path, float_data, labels, mask):
    img = nib.Nifti1Image(float_data, AFFINE)
    expected = extract_signals(img, labels, mask).signals
    labels_img = nib.Nifti1Image(labels.astype(np.float32), AFFINE)
    labels_path = tmp_path / "labels.nii.gz"
    labels_img.to_filename(labels_path)
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), AFFINE)
    mask_path = tmp_path / "mask.nii.gz"
    mask_img.to_filename(mask_path)

    class AtlasLike:
        name = "toy"

        def labels_on_grid(self, affine, shape):
            assert np.allclose(affine, AFFINE) and shape == SHAPE
            return labels

    for lab, msk in [(labels_img, mask_img), (labels_path, mask_path), (str(labels_path), mask),
                     (AtlasLike(), mask_img)]:
        np.testing.assert_array_equal(extract_signals(img, lab, msk).signals, expected)


def test_inputs_are_not_mutated(float_data, labels, mask):
    data, lab, msk = float_data.copy(), labels.copy(), mask.copy()
    extract_signals(nib.Nifti1Image(float_data, AFFINE), labels, mask, region_ids=[2, 1])
    np.testing.assert_array_equal(float_data, data)
    np.testing.assert_array_equal(labels, lab)
    np.testing.assert_array_equal(mask, msk)


def test_t_r_in_milliseconds_and_unset(tmp_path, float_data, labels):
    ms = write_nifti(tmp_path / "ms.nii", float_data, t_r=800.0, time_unit="msec")
    assert extract_signals(ms, labels).t_r == pytest.approx(0.8)
    unset = write_nifti(tmp_path / "unset.nii", float_data, t_r=0.0)
    assert extract_signals(unset, labels).t_r is None
    # the discovery rule: without a time unit, 1 is a writer's placeholder, 2 a plausible TR
    placeholder = write_nifti(tmp_path / "placeholder.nii", float_data, t_r=1.0, time_unit="unknown")
    assert extract_signals(placeholder, labels).t_r is None
    plausible = write_nifti(tmp_path / "plausible.nii", float_data, t_r=2.0, time_unit="unknown")
    assert extract_signals(plausible, labels).t_r == 2.0


def test_repr_is_short(float_data, labels):
    text = repr(extract_signals(nib.Nifti1Image(float_data, AFFINE), labels))
    # nibabel's default pixdim[4] is 1 with no time unit: a placeholder, not a TR
    assert text == "Extraction(source='<in-memory image>', n_volumes=23, n_regions=5, t_r=None)"


# ---------------------------------------------------------------- bad input


def test_error_is_a_neurokit_value_error():
    assert issubclass(ExtractError, NeurokitError) and issubclass(ExtractError, ValueError)


def test_missing_file(tmp_path, labels):
    with pytest.raises(ExtractError, match=r"missing\.nii\.gz: no such BOLD file"):
        extract_signals(tmp_path / "missing.nii.gz", labels)


def test_not_a_nifti(tmp_path, labels):
    path = tmp_path / "junk.nii.gz"
    path.write_bytes(b"this is not an image")
    with pytest.raises(ExtractError, match=r"junk\.nii\.gz: cannot read a NIfTI header"):
        extract_signals(path, labels)


def test_bold_of_wrong_type(labels):
    with pytest.raises(ExtractError, match="'bold' must be a path"):
        extract_signals(np.zeros(SHAPE + (3,)), labels)


def test_non_4d_image(tmp_path, labels):
    path = write_nifti(tmp_path / "map.nii.gz", np.ones(SHAPE, np.float32))
    with pytest.raises(ExtractError, match=r"map\.nii\.gz: expected a 4D BOLD run"):
        extract_signals(path, labels)


def test_single_volume(tmp_path, labels):
    path = write_nifti(tmp_path / "one.nii.gz", np.ones(SHAPE + (1,), np.float32))
    with pytest.raises(ExtractError, match=r"one\.nii\.gz: the BOLD run has 1 volume"):
        extract_signals(path, labels)


def test_unsupported_dtype(labels):
    img = nib.Nifti1Image(np.ones(SHAPE + (3,), np.complex64), AFFINE)
    with pytest.raises(ExtractError, match="voxel data type complex64 is not supported"):
        extract_signals(img, labels)


def test_truncated_gzip(tmp_path, float_data, labels):
    path = write_nifti(tmp_path / "bold.nii.gz", float_data)
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[: len(raw) // 2])
    with pytest.raises(ExtractError, match=r"bold\.nii\.gz: the compressed data are truncated"):
        extract_signals(path, labels)


@pytest.mark.parametrize("where", ["middle", "crc"])
def test_corrupt_gzip(tmp_path, float_data, labels, where):
    path = write_nifti(tmp_path / "bold.nii.gz", float_data)
    raw = bytearray(open(path, "rb").read())
    if where == "middle":
        raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)
    else:
        raw[-6] ^= 0xFF  # inside the CRC32 trailer
    open(path, "wb").write(bytes(raw))
    with pytest.raises(ExtractError, match="truncated or corrupt.*gzip -t"):
        extract_signals(path, labels)


def test_uncompressed_file_shorter_than_header(tmp_path, float_data, labels):
    path = write_nifti(tmp_path / "bold.nii", float_data)
    raw = open(path, "rb").read()
    open(path, "wb").write(raw[:-1000])
    with pytest.raises(ExtractError, match=r"bold\.nii: the file has \d+ bytes .* shorter than"):
        extract_signals(path, labels)


def test_gzip_data_shorter_than_header(tmp_path, float_data, labels):
    path = write_nifti(tmp_path / "bold.nii", float_data)
    raw = open(path, "rb").read()
    short = tmp_path / "short.nii.gz"
    short.write_bytes(gzip.compress(raw[: 352 + 5 * float_data[..., 0].nbytes + 10]))
    with pytest.raises(ExtractError, match=r"short\.nii\.gz: the data end after 5 of 23 volumes"):
        extract_signals(short, labels)


def test_labels_on_another_grid(float_data, labels):
    img = nib.Nifti1Image(float_data, AFFINE)
    shifted = nib.Nifti1Image(labels.astype(np.int16), AFFINE + _shift(4.0))
    with pytest.raises(ExtractError, match=r"label image is not on the BOLD grid.*affine"):
        extract_signals(img, shifted)
    other_shape = nib.Nifti1Image(labels[:, :, :8].astype(np.int16), AFFINE)
    with pytest.raises(ExtractError, match=r"shape \(7, 8, 8\).*BOLD shape \(7, 8, 9\)"):
        extract_signals(img, other_shape)
    with pytest.raises(ExtractError, match=r"label array has shape \(9, 8, 7\)"):
        extract_signals(img, labels.T)


def _shift(mm):
    out = np.zeros((4, 4))
    out[0, 3] = mm
    return out


def test_mask_on_another_grid(float_data, labels, mask):
    img = nib.Nifti1Image(float_data, AFFINE)
    with pytest.raises(ExtractError, match=r"mask is not on the BOLD grid"):
        extract_signals(img, labels, nib.Nifti1Image(mask.astype(np.uint8), AFFINE + _shift(2)))
    with pytest.raises(ExtractError, match=r"mask: array has shape \(7, 8\)"):
        extract_signals(img, labels, mask[..., 0])


def test_non_integer_labels(float_data, labels):
    img = nib.Nifti1Image(float_data, AFFINE)
    with pytest.raises(ExtractError, match="labels must be whole numbers"):
        extract_signals(img, labels + 0.5)
    with pytest.raises(ExtractError, match="labels must be integers; got dtype <U"):
        extract_signals(img, labels.astype(str))


def test_atlas_does_not_overlap_mask(float_data, labels):
    img = nib.Nifti1Image(float_data, AFFINE)
    with pytest.raises(ExtractError, match="no atlas voxel lies inside the brain mask"):
        extract_signals(img, labels, labels == 0)


def test_atlas_only_on_empty_voxels(float_data, labels):
    data = float_data.copy()
    data[labels != 0] = 0.0  # the atlas lies where the run has no brain signal
    with pytest.raises(ExtractError, match=r"none of the \d+ atlas voxels .* usable signal"):
        extract_signals(nib.Nifti1Image(data, AFFINE), labels)


def test_nifti2_file(tmp_path, float_data, labels):
    path = tmp_path / "bold2.nii.gz"
    nib.Nifti2Image(float_data, AFFINE).to_filename(path)
    out = extract_signals(path, labels, chunk_volumes=4)
    np.testing.assert_allclose(out.signals, reference(float_data, labels), atol=1e-9)


@pytest.mark.parametrize("bad", [[1, 1], [0, 2], [1.5], [[1, 2]]])
def test_bad_region_ids(float_data, labels, bad):
    img = nib.Nifti1Image(float_data, AFFINE)
    with pytest.raises(ExtractError, match="'region_ids' must be"):
        extract_signals(img, labels, region_ids=bad)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_bad_chunk_volumes(float_data, labels, bad):
    img = nib.Nifti1Image(float_data, AFFINE)
    with pytest.raises(ExtractError, match="'chunk_volumes' must be a positive integer"):
        extract_signals(img, labels, chunk_volumes=bad)
