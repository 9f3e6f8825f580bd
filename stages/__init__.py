"""One click command per DVC stage. Thin: options -> config -> core calls -> outputs."""
