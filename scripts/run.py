"""Start TrialDesk's web server, Celery worker and Celery beat in the foreground.

Used by ``make run``. Prints the URL and the demo logins, and stops all three on Ctrl-C (or
when any one of them exits).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def main() -> int:
    port = os.environ.get("PORT", "8000")
    host = os.environ.get("HOST", "127.0.0.1")
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    celery = str(VENV_BIN / "celery")
    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        "worker": [celery, "-A", "config", "worker", "-l", "info", "--concurrency", "2"],
        "beat": [celery, "-A", "config", "beat", "-l", "info"],
    }
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands.items():
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: S603

    accounts_file = ROOT / "var" / "demo-accounts.json"
    print(f"\nTrialDesk is starting on http://{host}:{port}/  (health: /health/)", flush=True)
    if accounts_file.exists():
        print("Demo logins:", flush=True)
        for a in json.loads(accounts_file.read_text()):
            sites = ", ".join(a["sites"]) or "all sites"
            print(f"  {a['email']:42} {a['password']}  ({a['role']}, {a['trial']}, {sites})")
    print("Press Ctrl-C to stop the web server, the worker and beat.\n", flush=True)

    def stop(*_args) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; stopping the others.")
                    stop()
                    return proc.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping TrialDesk…", flush=True)
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
