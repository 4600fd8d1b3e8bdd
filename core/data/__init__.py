"""Data: reading uploads, profiling, quality checks, splitting, preprocessing and feeding batches."""
