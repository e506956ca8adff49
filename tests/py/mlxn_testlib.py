"""What every Python test shares: the pass/fail tally with its closing "N passed, N failed" line,
and where the build, the sources and ../shared are (the env ctest sets, with defaults for a
hand run from anywhere). Not a test itself: ctest runs only test_*.py."""
import os
import subprocess
import sys

SOURCE = os.path.abspath(os.environ.get("MLXN_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.path.abspath(os.environ.get("MLXN_BINARY_DIR") or os.path.join(SOURCE, "build"))
SHARED = os.environ.get("MLXN_SHARED_DIR") or os.path.join(SOURCE, "..", "shared")
MLXN = os.environ.get("MLXN_BIN") or os.path.join(BINARY, "bin", "mlxn")
VOCAB_DIR = os.path.join(SHARED, "testdata", "vocab")   # the vocabularies kept in ../shared


def tool_path(name):
    """A helper program built from tests/tool_*.c (build/bin/tool_*)."""
    return os.path.join(BINARY, "bin", name)


def run_tool(name, *args):
    """Runs helper `name` with args (as strings); a non-zero exit raises with its stderr."""
    path = tool_path(name)
    r = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{path} {args}: {r.stderr}")


class Tally:
    passed = 0
    failed = 0


tally = Tally()


def check(cond, what):
    """Counts one check; prints what failed. Returns cond, so a check can guard what follows."""
    if cond:
        tally.passed += 1
    else:
        tally.failed += 1
        print("FAIL:", what)
    return cond


def finish():
    """Prints the closing count and exits: non-zero on any failure, or when nothing was checked."""
    print(f"{tally.passed} passed, {tally.failed} failed")
    sys.exit(1 if tally.failed or not tally.passed else 0)


def abort(why):
    """Stops a test that cannot run (a missing binary or oracle package): one failure, then finish()."""
    print("FAIL:", why)
    tally.failed += 1
    finish()
