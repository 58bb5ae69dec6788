"""Batch processing: a folder of volumes, images and DICOM series into another, resumably.

See :func:`run_batch` (also :func:`meddenoise.api.denoise_folder`) and the
``meddenoise batch`` command.
"""

from meddenoise.batch.discover import BatchItem, find_items, output_name
from meddenoise.batch.manifest import Manifest, Record, path_digest
from meddenoise.batch.runner import BatchOptions, BatchSummary, parse_shard, run_batch

__all__ = [
    "BatchItem",
    "BatchOptions",
    "BatchSummary",
    "Manifest",
    "Record",
    "find_items",
    "output_name",
    "parse_shard",
    "path_digest",
    "run_batch",
]
