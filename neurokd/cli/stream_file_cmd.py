"""``neurokd stream-file --dataset NAME --split test -o FILE``: a dataset split as one event stream file + labels."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    text = ("write the recordings of an event dataset's split back to back as one stream file (.npy) plus its "
            "labels file, the input of `neurokd stream`")
    p = sub.add_parser("stream-file", help=text, description=text)
    p.add_argument("--dataset", default="saccade-digits", metavar="NAME",
                   help="event dataset: saccade-digits (generated, the default), nmnist, dvsgesture, cifar10dvs")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder with the dataset files (not for "
                   "saccade-digits)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="split to write")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="stream file to write (.npy)")
    p.add_argument("--labels", default=None, metavar="FILE",
                   help="labels file to write (default: FILE with .labels.json, e.g. test_stream.labels.json)")
    p.add_argument("--segment-ms", type=float, default=None,
                   help="stream time per recording (default: the dataset's recording length, 300 ms for "
                        "saccade-digits and N-MNIST); events after it are dropped")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N recordings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurokd.config import merge_data_config
    from neurokd.data import load_dataset
    from neurokd.errors import UserError
    from neurokd.stream.files import event_dataset_info, write_stream_file

    if not args.output.lower().endswith(".npy"):
        raise UserError(f"-o {args.output}: a stream file is a structured .npy array; give a name ending in .npy")
    if args.segment_ms is not None and not 0 < args.segment_ms < float("inf"):
        raise UserError(f"--segment-ms must be a positive number of milliseconds, got {args.segment_ms}")
    event_dataset_info(args.dataset)
    dcfg = merge_data_config({}, {"name": args.dataset, "root": args.data_root})
    splits = load_dataset(dcfg)
    segment_us = None if args.segment_ms is None else max(1, round(args.segment_ms * 1000))
    out = write_stream_file(splits, args.split, args.output, args.labels, segment_us, args.limit)
    seconds = out.recordings * out.segment_us * 1e-6
    print(f"{out.events}: {out.recordings:,} recordings of {args.dataset}/{args.split}, {out.n_events:,} events, "
          f"{out.segment_us / 1000:g} ms each ({seconds:g} s of stream)")
    print(f"{out.labels}: {out.recordings:,} labels, one per recording")
    print(f"stream it: neurokd stream RUN --events {out.events} --labels {out.labels}")
    return 0
