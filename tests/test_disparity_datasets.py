"""Real stereo data through the real readers: FlyingThings3D in both layouts (written by
`write_flyingthings3d` from generated pairs), a tiny fake Sintel tree read through
torchvision's SintelStereo, `fit`'s disparity rescaling, and the one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rdarts.domains.disparity.datasets import (
    FlyingThings3DDisparity,
    fit,
    load_stereo,
    write_flyingthings3d,
)
from rdarts.domains.disparity.formats import encode_sintel_disparity, write_mask_png
from rdarts.domains.disparity.shapes import flying_shapes
from rdarts.domains.disparity.stereo import StereoSet
from rdarts.errors import DataError

H, W = 16, 32


@pytest.fixture(scope="module")
def pairs() -> StereoSet:
    return flying_shapes("train", 4, seed=2, height=H, width=W)


def _same(read: StereoSet, written: StereoSet) -> None:
    for name in ("left", "right", "disparity", "disparity_right"):
        assert torch.equal(getattr(read, name), getattr(written, name)), name


def test_subset_layout_round_trips_through_the_reader(tmp_path, pairs):
    base = write_flyingthings3d(pairs, tmp_path, split="train", layout="subset")
    assert (base / "train/image_clean/left/0000003.png").is_file()
    assert (base / "train/disparity_occlusions/left/0000000.png").is_file()
    for root in (tmp_path, base):  # the folder holding the subset, or the subset itself
        things = FlyingThings3DDisparity(root, split="train")
        assert things.layout == "subset" and len(things) == 4
        read = StereoSet.concat([things[i] for i in range(4)])
        _same(read, pairs)
        assert torch.equal(read.noc, pairs.noc)
    with pytest.raises(DataError, match="no test frames of the clean pass"):
        FlyingThings3DDisparity(tmp_path, split="test")


def test_full_layout_keeps_train_and_test_apart_and_accepts_the_sceneflow_folder(tmp_path, pairs):
    sceneflow = tmp_path / "SceneFlow"
    write_flyingthings3d(pairs, sceneflow, split="train", layout="full")
    write_flyingthings3d(pairs.subset([2, 3]), sceneflow, split="test", layout="full")
    left = sceneflow / "FlyingThings3D/frames_cleanpass/TRAIN/A/0000/left/0006.png"
    assert left.is_file()
    assert (sceneflow / "FlyingThings3D/disparity/TRAIN/A/0000/right/0009.pfm").is_file()
    for root in (tmp_path, sceneflow, sceneflow / "FlyingThings3D"):
        train = FlyingThings3DDisparity(root, split="train", layout="auto")
        assert train.layout == "full" and len(train) == 4
    test = FlyingThings3DDisparity(tmp_path, split="test")
    assert len(test) == 2
    _same(StereoSet.concat([test[0], test[1]]), pairs.subset([2, 3]))
    # no occlusion files in the full release: noc is the left-right consistency check
    noc = StereoSet.concat([train[i] for i in range(4)]).noc
    assert (noc == pairs.noc).float().mean() > 0.97


def test_load_stereo_reads_halves_subsets_and_fits_the_size(tmp_path, pairs):
    write_flyingthings3d(pairs, tmp_path, layout="subset")
    write_flyingthings3d(pairs.subset([0]), tmp_path, split="test", layout="subset")
    native = {"height": None, "width": None}
    first = load_stereo("flyingthings3d", tmp_path, "train", **native)
    second = load_stereo("flyingthings3d", tmp_path, "val", **native)
    _same(StereoSet.concat([first, second]), pairs)
    _same(load_stereo("flyingthings3d", tmp_path, "test", **native), pairs.subset([0]))
    drawn = load_stereo("flyingthings3d", tmp_path, "train", count=1, seed=5, **native)
    assert len(drawn) == 1 and any(torch.equal(drawn.left[0], p) for p in pairs.left[:2])
    small = load_stereo("flyingthings3d", tmp_path, "test", height=8, width=16)
    assert small.left.shape == (1, 3, 8, 16) and small.noc.shape == (1, 8, 16)
    assert small.disparity.max() <= pairs.disparity[0].max() / 2 + 1e-4


def test_fit_crops_to_the_aspect_ratio_and_rescales_disparity_by_the_width_ratio():
    views = torch.rand(1, 3, 40, 120)
    disparity = torch.full((1, 1, 40, 120), 12.0)
    disparity[..., :5, :] = torch.nan
    noc = torch.ones(1, 40, 120, dtype=torch.bool)
    pairs = StereoSet(views, views, disparity, disparity.clone(), noc)
    small = fit(pairs, 10, 20)  # crop 40x80 (no change), then a quarter of the width
    assert small.left.shape == (1, 3, 10, 20)
    torch.testing.assert_close(small.disparity[..., 2:, :], torch.full((1, 1, 8, 20), 3.0))
    assert torch.isnan(small.disparity[..., 0, :]).all()  # rows wholly unknown stay unknown
    torch.testing.assert_close(fit(pairs, 40, 80).left, views[..., 20:100])


def _fake_sintel(root, disparity: np.ndarray, occluded: np.ndarray, out_of_frame: np.ndarray):
    from PIL import Image

    training = root / "Sintel" / "training"
    rng = np.random.default_rng(0)
    for folder in ("clean_left", "clean_right", "disparities", "occlusions", "outofframe"):
        (training / folder / "alley_1").mkdir(parents=True)
    for frame in ("frame_0001.png", "frame_0002.png"):
        for side in ("left", "right"):
            image = rng.integers(0, 256, (*disparity.shape, 3), dtype=np.uint8)
            Image.fromarray(image).save(training / f"clean_{side}" / "alley_1" / frame)
        Image.fromarray(encode_sintel_disparity(disparity)).save(
            training / "disparities" / "alley_1" / frame)
        write_mask_png(training / "occlusions" / "alley_1" / frame, occluded)
        write_mask_png(training / "outofframe" / "alley_1" / frame, out_of_frame)


def test_sintel_through_torchvision_keeps_all_pixels_and_noc_as_the_second_mask(tmp_path):
    rng = np.random.default_rng(1)
    disparity = rng.uniform(0, 60, (6, 10))
    occluded, out_of_frame = rng.uniform(size=(2, 6, 10)) < 0.2
    _fake_sintel(tmp_path, disparity, occluded, out_of_frame)
    for root in (tmp_path, tmp_path / "Sintel"):
        sintel = load_stereo("sintel", root, "test", height=None, width=None)
        assert len(sintel) == 2 and sintel.valid.all() and sintel.disparity_right is None
        np.testing.assert_allclose(sintel.disparity[1, 0].numpy(), disparity, atol=2**-14)
        assert np.array_equal(sintel.noc[0].numpy(), ~occluded & ~out_of_frame)
    small = load_stereo("sintel", tmp_path, "test-shift", height=4, width=8)
    assert small.left.shape[-2:] == (4, 8)
    with pytest.raises(DataError, match="Sintel is a test set"):
        load_stereo("sintel", tmp_path, "train")
    (tmp_path / "Sintel/training/outofframe/alley_1/frame_0002.png").unlink()
    with pytest.raises(DataError, match=r"Sintel under .* is incomplete"):
        load_stereo("sintel", tmp_path, "test")


def test_missing_or_broken_data_gives_one_line_errors(tmp_path, pairs):
    with pytest.raises(DataError, match=r"no FlyingThings3D \(clean pass\) under .*nowhere: "
                                        r"expected .*FlyingThings3D_subset.*it does not exist"):
        FlyingThings3DDisparity(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no Sintel stereo under"):
        load_stereo("sintel", tmp_path, "test")
    base = write_flyingthings3d(pairs.subset([0, 1]), tmp_path, layout="subset")
    (base / "train/disparity/right/0000001.pfm").unlink()
    with pytest.raises(DataError, match=r"0000001\.pfm is missing"):
        FlyingThings3DDisparity(tmp_path)
    (base / "train/disparity/right/0000001.pfm").write_bytes(b"Pf\n32 16\n-1\n" + bytes(10))
    with pytest.raises(DataError, match="holds 2048 data bytes; found 10"):
        FlyingThings3DDisparity(tmp_path)[1]
    with pytest.raises(DataError, match="unknown stereo dataset 'kitti'"):
        load_stereo("kitti", tmp_path)
    with pytest.raises(DataError, match="give a sample count"):
        load_stereo("shapes")
    assert len(load_stereo("shapes", split="val", count=2, height=H, width=W)) == 2
