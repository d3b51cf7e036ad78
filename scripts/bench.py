#!/usr/bin/env python
"""Side-by-side benchmark of the reference and fast paths (same as `stdp-ray bench`)."""
import sys

from stdp_ray.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
