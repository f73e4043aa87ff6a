"""Hardware estimates for neurokd SNNs (SynOps, energy, chip mapping). Depends on ``neurokd``, never the reverse."""
