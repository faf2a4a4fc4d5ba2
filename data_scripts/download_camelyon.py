"""Download CAMELYON16/17 slides and annotations, or a PatchCamelyon split (needs internet; Colab).

    python data_scripts/download_camelyon.py --slides tumor_001 tumor_002 normal_001 --out data/camelyon
    python data_scripts/download_camelyon.py --pcam valid --out data/pcam

Slides come from the public AWS bucket ``camelyon-dataset`` (CC0), several GB each; checksums are
checked against each release's ``checksums.md5``. Downloads resume where they stopped. Annotations follow
CAMELYON's naming: none for ``normal_*``; ``test_*`` and ``patient_*`` slides without one print no XML path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slides", nargs="+", default=[], help="slide names, e.g. tumor_001 patient_004_node_4")
    p.add_argument("--pcam", choices=["train", "valid", "test"], default=None, help="a PatchCamelyon split")
    p.add_argument("--out", type=Path, default=None, help="folder (default: the data directory)")
    p.add_argument("--no-annotations", action="store_true", help="slides only")
    p.add_argument("--base-url", default=None, help="bucket mirror (default: the AWS bucket)")
    p.add_argument("--no-verify", action="store_true", help="skip checksums")
    args = p.parse_args(argv)
    if not args.slides and not args.pcam:
        p.error("give --slides and/or --pcam")
    from histogan_lite import downloads as D

    try:
        for slide, xml in D.download_camelyon(
            args.slides, args.out, annotations=not args.no_annotations,
            base_url=args.base_url or D.CAMELYON_BASE_URL, verify=not args.no_verify,
        ) if args.slides else []:  # fmt: skip
            print(slide, xml or "")
        if args.pcam:
            print(*D.download_pcam(args.pcam, args.out, verify=not args.no_verify))
    except (D.DownloadError, ValueError) as exc:
        print(f"download_camelyon: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
