"""Balance a patch manifest by random subsampling, per level, as in the paper's Table 1.

    python data_scripts/balance.py data/patches_L1/patches.csv --seed 0
    python data_scripts/balance.py data/patches_L1/patches.csv --per-class 22000 --out balanced.csv

Prints the negative / positive counts per level before and after; writes the balanced manifest
(default ``patches_balanced.csv`` beside the input) and keeps the original.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", type=Path, help="patches.csv written by extract_patches.py")
    p.add_argument("--out", type=Path, default=None, help="balanced manifest (default: patches_balanced.csv beside)")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsampling")
    p.add_argument("--per-class", type=int, default=None, help="patches per class and level (default: smaller class)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing balanced manifest")
    args = p.parse_args(argv)
    from histogan_lite.patches import balance, class_counts

    try:
        before = class_counts(args.manifest)
        balanced = balance(args.manifest, args.out, seed=args.seed, per_class=args.per_class, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"balance: {exc}", file=sys.stderr)
        return 1
    print("before balancing:\n" + before.to_string())
    print("after balancing:\n" + class_counts(balanced).to_string())
    print(f"-> {args.out or args.manifest.with_name('patches_balanced.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
