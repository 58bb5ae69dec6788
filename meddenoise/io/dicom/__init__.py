"""DICOM reading (series, folders, zip files, DICOMDIR) and derived-series writing."""
