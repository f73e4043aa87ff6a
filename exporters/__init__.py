"""Exporters for neurokd SNNs (NIR graphs, Lava / Loihi 2 networks). Depends on ``neurokd``, never the reverse."""
