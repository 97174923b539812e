"""Run one of rkd's tools as a user does: a subprocess from the repository root."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[1]


def run_tool(*args: str) -> str:
    """Run a tool on one intra-op thread: tiny networks gain nothing from a second one, and on
    a busy CI machine threads waiting on each other made a 1 s step take 20 s."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    done = subprocess.run([sys.executable, str(REPO / 'tools' / args[0]), *args[1:]],
                          cwd=REPO, timeout=600, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f'{args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}'
    return done.stdout + done.stderr
