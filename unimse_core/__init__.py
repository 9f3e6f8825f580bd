"""unimse_core: the library every stage shares (configs, I/O, labels, features, data, model, training, metrics).

Importing it does no work: no device choice, no logging set-up, no downloads.
"""

__version__ = "0.1.0"
