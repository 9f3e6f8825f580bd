"""The I/O layer: every file format the project reads or writes (raw tables, pickles, manifests, HDF5)."""
