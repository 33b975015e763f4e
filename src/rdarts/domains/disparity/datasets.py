"""Real stereo data (FlyingThings3D, Sintel) and the one entry point, `load_stereo`.

FlyingThings3D comes in two layouts (spec section 5), detected from the folder:
- the full release: `FlyingThings3D/frames_{clean,final}pass/{TRAIN,TEST}/{A,B,C}/NNNN/
  {left,right}/*.png` with `disparity/{TRAIN,TEST}/.../{left,right}/*.pfm` (root may be the
  FlyingThings3D folder, the SceneFlow folder holding it, or the folder holding SceneFlow).
  Unlike torchvision's SceneFlowStereo, TRAIN and TEST are kept apart. It ships no occlusion
  masks, so `noc` comes from the left-right consistency of the two disparity maps;
- the DispNet/FlowNet2 subset: `FlyingThings3D_subset/{train,val}/{image_clean|image_final,
  disparity,disparity_occlusions}/{left,right}/%07d.{png,pfm,png}`; its `val` is the test set.
Sintel is read through `torchvision.datasets.SintelStereo`; its valid mask (not occluded, in
frame) becomes `noc`, and the headline EPE stays on all pixels (spec section 9.6).

At CPU scale every frame is fitted to the requested size: a centred crop to the target's
aspect ratio (no change of disparity), then a resize whose width ratio multiplies the
disparity (spec section 4's evaluation rule). Disparity is resized as a NaN-aware average.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rdarts.domains.disparity.formats import (
    read_mask_png,
    read_pfm,
    read_rgb_png,
    write_mask_png,
    write_pfm,
    write_rgb_png,
)
from rdarts.domains.disparity.shapes import SPLITS, flying_shapes
from rdarts.domains.disparity.stereo import StereoSet
from rdarts.errors import DataError

__all__ = [
    "DATASETS",
    "FlyingThings3DDisparity",
    "fit",
    "load_sintel",
    "load_stereo",
    "write_flyingthings3d",
]

DATASETS = ("shapes", "flyingthings3d", "sintel")
PASSES = ("clean", "final")
_FULL_HELP = ("FlyingThings3D/frames_{clean,final}pass/{TRAIN,TEST}/{A,B,C}/NNNN/{left,right}/"
              "*.png and disparity/{TRAIN,TEST}/.../{left,right}/*.pfm")
_SUBSET_HELP = ("FlyingThings3D_subset/{train,val}/{image_clean,image_final,disparity,"
                "disparity_occlusions}/{left,right}/NNNNNNN.{png,pfm}")
_SINTEL_HELP = "Sintel/training/{clean,final}_{left,right}/<scene>/*.png, disparities/, " \
               "occlusions/, outofframe/"


@dataclass(frozen=True)
class _Files:
    left: Path
    right: Path
    disparity: Path
    disparity_right: Path
    occlusion: Path | None  # subset layout only


def _find_layout(root: Path, pass_name: str, layout: str) -> tuple[str, Path]:
    """(layout, dataset folder) under `root`, or a DataError naming both layouts."""
    if layout in ("auto", "full"):
        for base in (root, root / "FlyingThings3D", root / "SceneFlow" / "FlyingThings3D"):
            if (base / f"frames_{pass_name}pass").is_dir() and (base / "disparity").is_dir():
                return "full", base
    if layout in ("auto", "subset"):
        for base in (root, root / "FlyingThings3D_subset"):
            if any((base / split / f"image_{pass_name}").is_dir() for split in ("train", "val")):
                return "subset", base
    expected = {"auto": f"{_FULL_HELP} or {_SUBSET_HELP}", "full": _FULL_HELP,
                "subset": _SUBSET_HELP}[layout]
    found = "it does not exist" if not root.is_dir() else "neither layout is there"
    raise DataError(f"no FlyingThings3D ({pass_name} pass) under {root}: expected {expected}, "
                    f"but {found}")


def _full_files(base: Path, split: str, pass_name: str) -> list[_Files]:
    folder = "TRAIN" if split == "train" else "TEST"
    frames = base / f"frames_{pass_name}pass" / folder
    files = []
    for left in sorted(frames.glob("*/*/left/*.png")):
        letter, scene, stem = left.parts[-4], left.parts[-3], left.stem
        disparity = base / "disparity" / folder / letter / scene
        files.append(_Files(left, left.parents[1] / "right" / left.name,
                            disparity / "left" / f"{stem}.pfm",
                            disparity / "right" / f"{stem}.pfm", None))
    return files


def _subset_files(base: Path, split: str, pass_name: str) -> list[_Files]:
    folder = base / ("train" if split == "train" else "val")
    files = []
    for left in sorted((folder / f"image_{pass_name}" / "left").glob("*.png")):
        stem = left.stem
        occlusion = folder / "disparity_occlusions" / "left" / f"{stem}.png"
        files.append(_Files(left, left.parents[1] / "right" / left.name,
                            folder / "disparity" / "left" / f"{stem}.pfm",
                            folder / "disparity" / "right" / f"{stem}.pfm",
                            occlusion if occlusion.is_file() else None))
    return files


def _consistent(disparity: np.ndarray, disparity_right: np.ndarray) -> np.ndarray:
    """Left pixels whose match x - d is in frame and whose right disparity agrees within 1 px:
    the usual stand-in for an occlusion mask when a release has none."""
    width = disparity.shape[1]
    target = np.arange(width)[None, :] - disparity
    column = np.clip(np.round(target), 0, width - 1).astype(np.int64)
    back = np.take_along_axis(disparity_right, column, axis=1)
    with np.errstate(invalid="ignore"):
        return (target >= 0) & (np.abs(back - disparity) <= 1.0)


class FlyingThings3DDisparity:
    """FlyingThings3D stereo frames with left and right disparity, one split and pass.

    `split` is "train" or "test" (the subset's `val` folder); `layout` "auto", "full" or
    "subset". Items are one-pair `StereoSet`s at the native 960x540.
    """

    def __init__(self, root: str | Path, split: str = "train", pass_name: str = "clean",
                 layout: str = "auto") -> None:
        if split not in ("train", "test"):
            raise DataError(f"FlyingThings3D splits are 'train' and 'test'; got {split!r}")
        if pass_name not in PASSES:
            raise DataError(f"FlyingThings3D passes are 'clean' and 'final'; got {pass_name!r}")
        if layout not in ("auto", "full", "subset"):
            raise DataError(f"FlyingThings3D layouts are 'auto', 'full', 'subset'; got {layout!r}")
        self.layout, self.base = _find_layout(Path(root), pass_name, layout)
        lister = _full_files if self.layout == "full" else _subset_files
        self.files = lister(self.base, split, pass_name)
        if not self.files:
            raise DataError(f"no {split} frames of the {pass_name} pass in {self.base} "
                            f"(layout {self.layout}: "
                            f"{_FULL_HELP if self.layout == 'full' else _SUBSET_HELP})")
        for record in self.files:
            for path in (record.right, record.disparity, record.disparity_right):
                if not path.is_file():
                    raise DataError(f"{path} is missing (needed beside {record.left})")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> StereoSet:
        record = self.files[index]
        left, right = read_rgb_png(record.left), read_rgb_png(record.right)
        # the release stores some disparities negated; the magnitude is the disparity
        disparity = np.abs(read_pfm(record.disparity))
        disparity_right = np.abs(read_pfm(record.disparity_right))
        if disparity.ndim != 2 or disparity.shape != left.shape[1:]:
            raise DataError(f"{record.disparity}: expected a one-channel {left.shape[1:]} map; "
                            f"found shape {disparity.shape}")
        if record.occlusion is not None:
            in_frame = np.arange(disparity.shape[1])[None, :] - disparity >= 0
            noc = ~read_mask_png(record.occlusion) & in_frame
        else:
            noc = _consistent(disparity, disparity_right)
        return StereoSet(
            left=torch.from_numpy(left)[None], right=torch.from_numpy(right)[None],
            disparity=torch.from_numpy(disparity)[None, None],
            disparity_right=torch.from_numpy(disparity_right)[None, None],
            noc=torch.from_numpy(noc)[None],
        )


def _sintel_root(root: Path) -> Path:
    """The folder torchvision's SintelStereo wants: the one holding `Sintel/training`."""
    if (root / "Sintel" / "training").is_dir():
        return root
    if root.name == "Sintel" and (root / "training").is_dir():
        return root.parent
    found = "it does not exist" if not root.is_dir() else "Sintel/training is not there"
    raise DataError(f"no Sintel stereo under {root}: expected {_SINTEL_HELP}, but {found}")


def load_sintel(root: str | Path, pass_name: str = "clean") -> list[StereoSet]:
    """Every Sintel stereo training frame (the only ones with ground truth), native size."""
    from torchvision.datasets import SintelStereo  # imported lazily: slow to import

    try:
        dataset = SintelStereo(str(_sintel_root(Path(root))), pass_name=pass_name)
        samples = [dataset[i] for i in range(len(dataset))]
    except (FileNotFoundError, ValueError, OSError) as error:
        raise DataError(f"Sintel under {root} is incomplete ({_SINTEL_HELP}): "
                        f"{str(error).splitlines()[0]}") from error
    return [
        StereoSet(
            left=torch.from_numpy(np.asarray(left, np.float32).transpose(2, 0, 1) / 255)[None],
            right=torch.from_numpy(np.asarray(right, np.float32).transpose(2, 0, 1) / 255)[None],
            disparity=torch.from_numpy(np.ascontiguousarray(disparity, np.float32))[None],
            noc=torch.from_numpy(np.asarray(valid, bool))[None],
        )
        for left, right, disparity, valid in samples
    ]


def _resize_disparity(disparity: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """NaN-aware antialiased resize: average the valid pixels only; NaN where under half of
    the footprint is valid."""
    valid = torch.isfinite(disparity)
    total = F.interpolate(torch.where(valid, disparity, 0.0), size, mode="bilinear",
                          antialias=True, align_corners=False)
    weight = F.interpolate(valid.float(), size, mode="bilinear", antialias=True,
                           align_corners=False)
    return torch.where(weight >= 0.5, total / weight.clamp(min=1e-6), torch.nan)


def fit(pairs: StereoSet, height: int, width: int) -> StereoSet:
    """Centre-crop to the aspect ratio of height x width, then resize to it; disparity is
    multiplied by the width ratio (horizontal scale), masks kept where at least half valid."""
    h, w = pairs.left.shape[-2:]
    crop_h, crop_w = min(h, round(w * height / width)), min(w, round(h * width / height))
    top, left_edge = (h - crop_h) // 2, (w - crop_w) // 2

    def crop(t: torch.Tensor) -> torch.Tensor:
        return t[..., top : top + crop_h, left_edge : left_edge + crop_w]

    size, ratio = (height, width), width / crop_w

    def image(t: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(crop(t), size, mode="bilinear", antialias=True, align_corners=False)
        return out.clamp(0, 1)

    def disparity(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else _resize_disparity(crop(t), size) * ratio

    noc = None
    if pairs.noc is not None:
        noc = F.interpolate(crop(pairs.noc.float())[:, None], size, mode="bilinear",
                            antialias=True, align_corners=False)[:, 0] >= 0.5
    return StereoSet(image(pairs.left), image(pairs.right), disparity(pairs.disparity),
                     disparity(pairs.disparity_right), noc)


def _choose(available: int, count: int | None, seed: int) -> list[int]:
    """All indices, or `count` of them drawn by `seed` (in file order)."""
    if count is None or count >= available:
        return list(range(available))
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(available, generator=generator)[:count].tolist())


def load_stereo(
    dataset: str = "shapes",
    data_dir: str | Path | None = None,
    split: str = "train",
    count: int | None = None,
    seed: int = 0,
    height: int | None = 64,
    width: int | None = 128,
    pass_name: str = "clean",
) -> StereoSet:
    """One split of a stereo dataset as a CPU StereoSet of height x width pairs.

    shapes: generated (spec section 7), no files; `count` samples (required) of split train,
    val, test or test-shift. flyingthings3d: train and val are the two halves of the
    release's training split (spec section 9.2), test its test split. sintel: split test or
    test-shift (Sintel is the shifted test set). For real data `count` draws a random subset
    by `seed` (all when None) and height/width None keeps the native size.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown stereo dataset {dataset!r}; known: {', '.join(DATASETS)}")
    if dataset == "shapes":
        if count is None:
            raise DataError("the flying-shapes dataset is generated: give a sample count")
        return flying_shapes(split, count, seed, height or 64, width or 128)
    if data_dir is None:
        raise DataError(f"the {dataset} dataset needs a data folder (--data-dir)")
    if dataset == "sintel":
        if split not in ("test", "test-shift"):
            raise DataError(f"Sintel is a test set: split 'test' or 'test-shift', not {split!r}")
        frames = load_sintel(data_dir, pass_name)
        frames = [frames[i] for i in _choose(len(frames), count, seed)]
    else:
        if split not in SPLITS[:3]:
            raise DataError(f"FlyingThings3D splits are train, val, test; got {split!r}")
        things = FlyingThings3DDisparity(data_dir, "test" if split == "test" else "train",
                                         pass_name)
        indices = list(range(len(things)))
        if split != "test":  # contiguous halves: frames of one scene stay on one side
            half = len(indices) // 2
            indices = indices[:half] if split == "train" else indices[half:]
        frames = [things[indices[i]] for i in _choose(len(indices), count, seed)]
    if height is not None and width is not None:
        frames = [fit(frame, height, width) for frame in frames]
    return StereoSet.concat(frames)


def _written_paths(base: Path, layout: str, split: str, pass_name: str, i: int):
    """Where pair i goes: ({side: view folder}, {side: disparity folder}, file stem). The full
    layout puts 10 frames (0006-0015, as in the release) in each scene of A, B, C in turn."""
    sides = ("left", "right")
    if layout == "subset":
        folder = base / ("train" if split == "train" else "val")
        return ({s: folder / f"image_{pass_name}" / s for s in sides},
                {s: folder / "disparity" / s for s in sides}, f"{i:07d}")
    scene = i // 10
    part = Path("TRAIN" if split == "train" else "TEST") / "ABC"[scene % 3] / f"{scene:04d}"
    return ({s: base / f"frames_{pass_name}pass" / part / s for s in sides},
            {s: base / "disparity" / part / s for s in sides}, f"{6 + i % 10:04d}")


def write_flyingthings3d(pairs: StereoSet, root: str | Path, split: str = "train",
                         pass_name: str = "clean", layout: str = "subset") -> Path:
    """Save pairs in a FlyingThings3D layout (8-bit PNG views, little-endian `Pf` PFM
    disparity, the subset's occlusion PNGs), so tests exercise the real readers. Returns the
    dataset folder (FlyingThings3D_subset or FlyingThings3D) under `root`."""
    if pairs.disparity_right is None:
        raise DataError("FlyingThings3D needs right-view disparity; this set has none")
    if layout not in ("full", "subset"):
        raise DataError(f"FlyingThings3D layouts to write are 'full' and 'subset'; got {layout!r}")
    base = Path(root) / ("FlyingThings3D_subset" if layout == "subset" else "FlyingThings3D")
    for i in range(len(pairs)):
        views, maps, stem = _written_paths(base, layout, split, pass_name, i)
        for side, image, disparity in (("left", pairs.left, pairs.disparity),
                                       ("right", pairs.right, pairs.disparity_right)):
            views[side].mkdir(parents=True, exist_ok=True)
            maps[side].mkdir(parents=True, exist_ok=True)
            write_rgb_png(views[side] / f"{stem}.png", image[i].cpu().numpy())
            write_pfm(maps[side] / f"{stem}.pfm", disparity[i, 0].cpu().numpy())
        if layout == "subset" and pairs.noc is not None:
            occlusions = maps["left"].parents[1] / "disparity_occlusions" / "left"
            occlusions.mkdir(parents=True, exist_ok=True)
            write_mask_png(occlusions / f"{stem}.png", ~pairs.noc[i].cpu().numpy())
    return base
