"""Reading a DICOM series into a :class:`~meddenoise.image.MedicalImage`.

:func:`read_dicom` takes a file, a folder (searched recursively), a zip file or a
DICOMDIR, picks one series, sorts its slices in space and decodes the pixel data one
instance at a time into a single array of the stored dtype. What the DICOM writer needs to
write a derived series is kept in a :class:`~meddenoise.io.dicom.source.DicomSource`.

Decisions:

- Several series: ``series_uid`` chooses; without it, an :class:`InputError` lists every
  series on one line (UID, modality, series number, instance count).
- Slices are sorted along the slice normal, ties broken by InstanceNumber; an enhanced
  multi-frame instance keeps its frame order when that is already monotonic in space.
- Two distinct slices at one position are an error (several volumes in one series are
  not mixed); the same instance present twice (same SOPInstanceUID) is read once, with a
  warning. Steps off the median by more than 10 % are a warning (a gap).
- Without ImagePositionPatient, or with several orientations (a localizer), slices keep
  their InstanceNumber order, without geometry, with a warning.
- Gantry tilt: positions stay exact (sheared); spacing is measured along the normal.
- Colour: YBR -> RGB and palette colour -> RGB on reading; MONOCHROME1 is kept as stored
  (``photometric == "MONOCHROME1"``); the original PhotometricInterpretation stays in the
  datasets and in ``metadata["source_photometric"]``.
- Identifying data (patient name, ID, birth date...) never enters messages or metadata.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage, dtype_range
from meddenoise.io.dicom.files import DICOMDIR_SOP_CLASS, InstanceStore, open_instances
from meddenoise.io.dicom.frames import describe_frames, number_of_frames
from meddenoise.io.dicom.pixels import (
    check_frame_count,
    check_pixel_data,
    decode_frames,
    stored_value_range,
    transfer_syntax,
)
from meddenoise.io.dicom.series import (
    Instance,
    check_sizes,
    drop_repeated_instances,
    group_series,
    is_image,
    select_series,
    sop_class_name,
)
from meddenoise.io.dicom.slices import SliceInfo, StackPlan, plan_stack
from meddenoise.io.dicom.source import DicomSource

__all__ = ["read_dicom"]

logger = logging.getLogger(__name__)


def read_dicom(
    path: Path, *, series_uid: str | None = None, modality: str | None = None
) -> MedicalImage:
    """Read one DICOM series.

    Parameters
    ----------
    path : Path
        A DICOM file, a folder (searched recursively; non-DICOM files are skipped), a zip
        file or a DICOMDIR.
    series_uid : str, optional
        The SeriesInstanceUID to read where the input holds several series.
    modality : str, optional
        Modality to use when the files do not state one (else ``"OT"``).

    Returns
    -------
    MedicalImage
        Stored values ``(N, H, W)`` or ``(N, H, W, 3)`` in the stored dtype, per-slice
        rescale, geometry (None without positions), ``source`` a
        :class:`~meddenoise.io.dicom.source.DicomSource`.

    Raises
    ------
    InputError
        For a missing, non-DICOM, truncated or non-image input, an input without an
        image, several series without ``series_uid`` (listing them), mixed image sizes,
        duplicate slice positions, or a transfer syntax without an installed decoder.
    """
    path = Path(path)
    with open_instances(path) as store:
        members, incomplete = _find_images(store)
        where = f"{path}: {store.kind}" if store.kind != "file" else str(path)
        uid, chosen = select_series(group_series(members), series_uid, where=where)
        for inst in incomplete:
            if str(inst.header.get("SeriesInstanceUID") or "") == uid:
                raise _incomplete(inst)
        return _read_series(store, uid, chosen, modality)


def _find_images(store: InstanceStore) -> tuple[list[Instance], list[Instance]]:
    """Headers of the image instances in the store (pass 1, no pixel data).

    Also returns the instances of an image SOP class without Rows or Columns (truncated
    files, stubs): an error only if they belong to the series chosen.
    """
    images: list[Instance] = []
    incomplete: list[Instance] = []
    others: list[Instance] = []
    for item in store.files:
        header = store.read_header(item)
        if header is None:
            continue
        inst = Instance(item, header)
        if is_image(header):
            images.append(inst)
        elif "Image Storage" in sop_class_name(header):
            incomplete.append(inst)
        elif _sop_class(header) != DICOMDIR_SOP_CLASS or store.kind == "file":
            others.append(inst)
    if images:
        return images, incomplete
    if incomplete:
        raise _incomplete(incomplete[0])
    if others:
        first = others[0]
        what = f"not an image ({sop_class_name(first.header)})"
        if store.kind == "file":
            raise InputError(f"{first.file.path}: {what}")
        raise InputError(
            f"{store.path}: {store.kind} holds no image instance, only {len(others)} "
            f"non-image object(s), e.g. {first.file.path}: {what}"
        )
    raise InputError(f"{store.path}: {store.kind} holds no DICOM file")


def _incomplete(inst: Instance) -> InputError:
    return InputError(
        f"{inst.file.path}: incomplete DICOM header: no Rows or Columns in a "
        f"{sop_class_name(inst.header)} instance (truncated file?)"
    )


def _sop_class(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
    return str(uid or "")


def _read_series(
    store: InstanceStore, uid: str, members: list[Instance], modality: str | None
) -> MedicalImage:
    members, notes = drop_repeated_instances(members)
    check_sizes(members, uid)
    slices: list[SliceInfo] = []
    labels: list[str] = []
    for index, inst in enumerate(members):
        check_frame_count(inst.header, store.size(inst.file), inst.file.path)
        frames = describe_frames(inst.header, index)
        slices.extend(frames)
        suffixes = [f" frame {f}" for f in range(len(frames))] if len(frames) > 1 else [""]
        labels.extend(f"{inst.file.path}{suffix}" for suffix in suffixes)
    plan = plan_stack(slices, labels=labels, keep_monotonic=len(members) == 1)
    notes.extend(plan.warnings)
    if any("ModalityLUTSequence" in m.header for m in members):
        notes.append(
            "Modality LUT Sequence ignored (not a linear rescale): the slope and intercept "
            "are RescaleSlope/RescaleIntercept, else 1 and 0"
        )
    order = [slices[k] for k in plan.order]
    for s, label in zip(order, [labels[k] for k in plan.order], strict=True):
        if s.slope == 0 or not np.isfinite(s.slope) or not np.isfinite(s.intercept):
            raise InputError(f"{label}: invalid rescale (slope {s.slope}, intercept {s.intercept})")
    source, pixels, photometric = _decode(store, members, slices, plan, uid)
    source.warnings.extend(notes)
    padding = _padding(source.datasets, source.warnings)
    for note in source.warnings:
        logger.warning("%s: %s", store.path, note)
    first = source.datasets[0]
    return MedicalImage(
        pixels=pixels,
        modality=str(first.get("Modality") or modality or "OT"),
        slope=np.array([s.slope for s in order], dtype=np.float64),
        intercept=np.array([s.intercept for s in order], dtype=np.float64),
        photometric=photometric,
        value_range=_value_range(source.datasets, pixels),
        format="dicom",
        geometry=plan.geometry,
        padding_value=padding,
        path=store.path,
        source=source,
        metadata=_metadata(source.datasets, pixels, plan),
    )


def _decode(
    store: InstanceStore,
    members: list[Instance],
    slices: list[SliceInfo],
    plan: StackPlan,
    uid: str,
) -> tuple[DicomSource, np.ndarray, str]:
    """Pass 2: read each instance in write-back order and decode it into one array."""
    dataset_order: list[int] = []
    for k in plan.order:
        if slices[k].dataset not in dataset_order:
            dataset_order.append(slices[k].dataset)
    new_index = {d: j for j, d in enumerate(dataset_order)}
    frame_map = [(new_index[slices[k].dataset], slices[k].frame) for k in plan.order]
    slot = {(slices[k].dataset, slices[k].frame): pos for pos, k in enumerate(plan.order)}
    n = len(plan.order)
    pixels: np.ndarray | None = None
    photometric = ""
    datasets: list[Dataset] = []
    for d in dataset_order:
        name = members[d].file.path
        ds = store.read_dataset(members[d].file)
        check_pixel_data(ds, name)
        expected = number_of_frames(ds)
        count = 0
        for f, (frame, photo) in enumerate(decode_frames(ds, name)):
            if pixels is None:
                pixels = np.empty((n, *frame.shape), dtype=frame.dtype)
                photometric = photo
            if frame.shape != pixels.shape[1:] or frame.dtype != pixels.dtype:
                raise InputError(
                    f"{name}: frame {f} decodes to {frame.shape} {frame.dtype}, other "
                    f"slices of the series to {pixels.shape[1:]} {pixels.dtype}"
                )
            if photo != photometric:
                raise InputError(f"{name}: {photo} in a series of {photometric} slices")
            if (d, f) not in slot:
                raise InputError(f"{name}: decodes to more frames than its {expected}")
            pixels[slot[(d, f)]] = frame
            count += 1
        if count != expected:
            raise InputError(f"{name}: decoded {count} frame(s), NumberOfFrames says {expected}")
        del ds.PixelData
        datasets.append(ds)
    if pixels is None:
        raise InputError(f"{store.path}: series {uid} has no pixel data")
    files = [members[d].file.path for d in dataset_order]
    source = DicomSource(datasets=datasets, files=files, frames=frame_map, series_uid=uid)
    return source, pixels, photometric


def _value_range(datasets: list[Dataset], pixels: np.ndarray) -> tuple[float, float]:
    if datasets[0].get("PhotometricInterpretation") == "PALETTE COLOR":
        return dtype_range(pixels.dtype)
    ranges = [stored_value_range(ds) for ds in datasets]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def _padding(datasets: list[Dataset], notes: list[str]) -> float | None:
    values = [ds.get("PixelPaddingValue") for ds in datasets]
    numbers = {v for v in values if isinstance(v, (int, float))}
    if any(v is not None for v in values) and not numbers:
        notes.append(f"PixelPaddingValue {values[0]!r} is not one number: ignored")
    if not numbers:
        return None
    first = values[0]
    if len(numbers) > 1:
        notes.append(f"PixelPaddingValue differs between instances; using {first}")
    return float(first) if isinstance(first, (int, float)) else None


def _metadata(datasets: list[Dataset], pixels: np.ndarray, plan: StackPlan) -> dict[str, Any]:
    """Descriptive, non-identifying information (no patient, no dates, no UIDs)."""
    ds = datasets[0]
    keep = {
        "modality": "Modality",
        "series_description": "SeriesDescription",
        "manufacturer": "Manufacturer",
        "manufacturer_model_name": "ManufacturerModelName",
        "body_part_examined": "BodyPartExamined",
        "series_number": "SeriesNumber",
    }
    meta: dict[str, Any] = {key: str(ds.get(kw)) for key, kw in keep.items() if ds.get(kw)}
    meta.update(
        n_instances=len(datasets),
        n_slices=int(pixels.shape[0]),
        sop_class=sop_class_name(ds),
        transfer_syntax=transfer_syntax(ds).name,
        source_photometric=str(ds.get("PhotometricInterpretation", "")),
        bits_stored=int(ds.get("BitsStored") or ds.get("BitsAllocated") or 0),
    )
    return meta
