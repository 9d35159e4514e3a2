"""Launch DQN training, locally or on a Ray cluster. See `python train.py --help`."""

import sys

from agents.cli import main

if __name__ == "__main__":
    sys.exit(main())
