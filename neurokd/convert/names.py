"""The names of the conversion methods (``convert.method``), defined once for the config, the conversion and the
command line."""

METHODS: tuple[str, ...] = ("threshold-balance", "qcfs")
METHOD_CHOICES: tuple[str, ...] = ("auto", *METHODS)  # auto: qcfs for a QCFS teacher, else threshold-balance
