"""MedicalRec-Bench: the record schema, loading, feature modes, tasks and splits, the generator."""
