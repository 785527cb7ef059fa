"""`python -m sgtui`: run one command, then exit.

Once a command has loaded torch, the interpreter's own teardown (freeing torch's thousand
modules and their objects one by one) took ~0.3 s after every file was written and
closed: a tenth of `sgtui embed` on an episode. Then the exit handlers run (temporary
files, child processes), the output is flushed, and the process ends without it — only
when no other thread is still running, which a normal exit would wait for.
"""

import atexit
import contextlib
import os
import sys
import threading

from sgtui.cli import main

code = main()
if "torch" in sys.modules and threading.active_count() == 1:
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code)
raise SystemExit(code)
