"""The names of the datasets (``data.name``) and of the splits, defined once for the config, the loaders and the
command line."""

EVENT_DATASETS: tuple[str, ...] = ("saccade-digits", "nmnist", "dvsgesture", "cifar10dvs")  # event cameras (DVS)
DATASETS: tuple[str, ...] = ("digits", "mnist1d", "cifar10", "cifar100", "imagefolder", *EVENT_DATASETS)
SPLITS: tuple[str, ...] = ("train", "val", "test")
