"""Write a :class:`~meddenoise.image.MedicalImage` read from DICOM as a derived series.

One output file per source instance, in the source's write-back order, as a new series
of the same SOP class in the same study: the header changes of
:mod:`meddenoise.io.dicom.derive` and the pixel data of
:mod:`meddenoise.io.dicom.pixel_data`, written Explicit VR Little Endian with a DICOM
file meta header. The folder (or single ``.dcm`` file) appears complete under its final
name or not at all (:func:`meddenoise.io.atomic.atomic_output`).
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.io.atomic import atomic_output, check_output_path
from meddenoise.io.dicom.derivation import Derivation
from meddenoise.io.dicom.derive import derive_dataset, source_timestamp
from meddenoise.io.dicom.pixel_data import set_pixel_data, set_series_extremes, stored_range
from meddenoise.io.dicom.source import DicomSource
from meddenoise.io.dicom.uids import UidFactory

__all__ = ["ClippedValuesWarning", "Derivation", "instance_frames", "write_dicom"]


class ClippedValuesWarning(UserWarning):
    """Stored values outside the range of BitsStored were clipped on writing."""


def instance_frames(source: DicomSource, n_slices: int) -> list[list[int]]:
    """Return, for each source dataset, the slices of ``pixels`` holding its frames in order.

    Parameters
    ----------
    source : DicomSource
        The source datasets and the frame map ``frames[k] = (dataset, frame)``.
    n_slices : int
        Number of slices of the image.

    Returns
    -------
    list of list of int
        ``result[i][f]`` is the slice that holds frame ``f`` of dataset ``i``.

    Raises
    ------
    InputError
        If the frame map does not cover every frame of every instance exactly once.
    """
    if len(source.frames) != n_slices:
        raise InputError(f"the frame map has {len(source.frames)} entries for {n_slices} slices")
    per_instance: list[dict[int, int]] = [{} for _ in source.datasets]
    for k, (index, frame) in enumerate(source.frames):
        if not 0 <= index < len(source.datasets):
            raise InputError(f"slice {k} maps to instance {index}, which does not exist")
        if frame in per_instance[index]:
            raise InputError(f"slice {k} repeats frame {frame} of instance {index}")
        per_instance[index][frame] = k
    slices: list[list[int]] = []
    for index, frames in enumerate(per_instance):
        if sorted(frames) != list(range(len(frames))) or not frames:
            raise InputError(f"instance {index} lacks frames: it has {sorted(frames)}")
        slices.append([frames[f] for f in range(len(frames))])
    return slices


def _file_meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _series_extremes(image: MedicalImage, ds: Dataset) -> tuple[int, int]:
    """Smallest and largest stored value of the whole series after clipping."""
    low, high = stored_range(ds)
    smallest = float(np.min(image.pixels))
    largest = float(np.max(image.pixels))
    return int(np.clip(np.rint(smallest), low, high)), int(np.clip(np.rint(largest), low, high))


def _transfer_syntax(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(value) if value else None


def write_dicom(
    image: MedicalImage,
    path: Path,
    *,
    overwrite: bool = False,
    derivation: Derivation | None = None,
    entropy: str | None = None,
    uid_prefix: str | None = None,
    timestamp: datetime | None = None,
    strip_private: bool = False,
) -> Path:
    """Write ``image`` as a derived series of the DICOM series it was read from.

    Parameters
    ----------
    image : MedicalImage
        Stored values to write, with ``image.source`` a
        :class:`~meddenoise.io.dicom.source.DicomSource` (the DICOM reader's).
    path : Path
        Output folder, whose files are ``IM00001.dcm``, ``IM00002.dcm``... in write-back
        order; or a ``.dcm`` file when the series has a single instance.
    overwrite : bool
        Replace an existing output (never one of the input files).
    derivation : Derivation, optional
        What is written about the processing; default ``Derivation()``.
    entropy : str, optional
        Deterministic mode: UIDs follow from this string, the derivation description and
        the source UIDs, and (without ``timestamp``) dates from the source, so that the
        same input and options give byte-identical files on every run.
    uid_prefix : str, optional
        Organisation UID root (ending with ``"."``); default ``2.25`` UUID-based UIDs.
    timestamp : datetime, optional
        Series, content, instance creation and contribution date and time; default now,
        or the source's content date and time in deterministic mode.
    strip_private : bool
        Drop private attributes (kept by default).

    Returns
    -------
    Path
        The folder or file written.

    Raises
    ------
    InputError
        If the image has no DICOM source, its pixels do not fit the source instances,
        or the output exists (without ``overwrite``) or is an input.

    Warns
    -----
    ClippedValuesWarning
        When values outside the BitsStored/PixelRepresentation range were clipped.
    """
    source = image.source
    if not isinstance(source, DicomSource) or not source.datasets:
        raise InputError("DICOM output needs an image read from DICOM; choose another format")
    derivation = derivation or Derivation()
    uids = UidFactory(prefix=uid_prefix, entropy=entropy)
    single = path.suffix.lower() == ".dcm"
    if single and len(source.datasets) != 1:
        raise InputError(
            f"{path}: a .dcm file holds one instance, the series has {len(source.datasets)};"
            " give a folder name"
        )
    check_output_path(path, overwrite=overwrite, inputs=source.files)
    slices = instance_frames(source, image.n_slices)
    first = source.datasets[0]
    when = timestamp or (source_timestamp(first) if uids.deterministic else datetime.now())
    series_uid = uids.series_uid(source.series_uid, derivation.description)
    extremes = _series_extremes(image, first)
    clipped = 0
    with atomic_output(path, overwrite=overwrite, folder=not single) as target:
        for number, (src, ks) in enumerate(zip(source.datasets, slices, strict=True), start=1):
            ds = derive_dataset(
                src,
                series_uid=series_uid,
                instance_uid=uids.instance_uid(src.SOPInstanceUID, derivation.description),
                derivation=derivation,
                timestamp=when,
                strip_private=strip_private,
            )
            clipped += set_pixel_data(ds, image.pixels[ks], transfer_syntax=_transfer_syntax(src))
            set_series_extremes(ds, *extremes)
            ds.file_meta = _file_meta(ds)
            out = target if single else target / f"IM{number:05d}.dcm"
            dcmwrite(out, ds, enforce_file_format=True)
    if clipped:
        warnings.warn(
            f"{path}: {clipped} stored values outside the range of BitsStored were clipped",
            ClippedValuesWarning,
            stacklevel=2,
        )
    return path
