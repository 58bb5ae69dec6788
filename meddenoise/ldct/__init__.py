"""Low-dose CT: a projection-domain dose simulator and slice pairing for fine-tuning."""
