"""`feratt synth`: composite prepared faces onto backgrounds and write the samples as PNGs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic composites (image, clean face, mask, labels, preview)",
        description="Prepare the faces of a data set, composite them onto random crops of "
        "natural backgrounds (SPEC section 3) and write images/, clean/, masks/, labels.csv "
        "and preview.png to --out.",
    )
    parser.add_argument("--data", required=True, help="data set root in its publisher's layout")
    parser.add_argument("--format", help="data set layout name (detected when omitted)")
    parser.add_argument("--split", help="keep one shipped split of the data set")
    parser.add_argument("--backgrounds", required=True, help="folder of background photos")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--count", type=int, required=True, help="number of samples")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--mode", choices=("train", "test"), default="test", help="affine ranges")
    parser.add_argument(
        "--background-split",
        choices=("train", "test", "all"),
        help="part of the background pool to use (default: the one matching --mode)",
    )
    parser.add_argument("--size", type=int, default=64, help="output side (default 64)")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1, help="face channels")
    parser.add_argument("--cache", help="prepared-face cache folder (prepared afresh if omitted)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from feratt.data import open_dataset
    from feratt.data.cache import prepare_cached
    from feratt.data.compositing import CompositorConfig, load_backgrounds
    from feratt.data.preparation import prepare_faces
    from feratt.data.synthetic import backgrounds_for, build_synthetic_set, save_synthetic_set
    from feratt.devices import torch_device

    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    pool = load_backgrounds(args.backgrounds)
    part = args.background_split or args.mode
    backgrounds = pool if part == "all" else backgrounds_for(pool, part)
    dataset = open_dataset(args.data, args.format, args.split)
    if args.cache:
        faces = prepare_cached(dataset, args.cache, size=args.size, channels=args.channels)
    else:
        faces = prepare_faces(dataset, size=args.size, channels=args.channels)

    generator = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(faces), generator=generator)
    chosen = order.repeat(-(-args.count // len(faces)))[: args.count].numpy()
    subset = faces.subset(chosen)
    config = CompositorConfig(size=args.size, mode=args.mode)
    batch = build_synthetic_set(
        subset, backgrounds, seed=args.seed, config=config, device=torch_device(args.device)
    )
    out = save_synthetic_set(batch, args.out, faces.classes, sources=list(subset.paths))
    print(
        f"wrote {len(batch)} {args.mode} composites of {args.size}x{args.size} from "
        f"{len(faces)} faces and {len(backgrounds)} {part} backgrounds to {out} "
        "(images/, clean/, masks/, labels.csv, preview.png)"
    )
    return 0
