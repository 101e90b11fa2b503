"""Runs the GA4GH WES reference server wes-service (cwltool backend) with
its run-state defects fixed and an optional bearer token.

Started by scripts/wes-server with the Python of tools/python/wes-venv; see
services/jobs/workflows/README.md ("The test server"). The stock classes of
wes_service.cwl_runner are patched in place before the server starts, so the
API, the storage layout (<cwd>/workflows/<run_id>/) and every other behaviour
stay wes-service's own:

* Exit status. Stock `Workflow.run` drops its `subprocess.Popen` while the
  runner is still going; Python then parks the object in `subprocess._active`,
  and the next `Popen` anywhere in the server (a `GET /service-info`, which
  runs `cwl-runner --version`, or another submit) reaps the finished runner
  through `subprocess._cleanup`. The status request after that gets ECHILD
  from its own `os.waitpid`, answers EXECUTOR_ERROR once, deletes the pid
  file without writing `exit_code`, and every later request finds neither
  file and answers RUNNING forever. Here a thread per run starts the runner,
  keeps the `Popen` and waits for it, then writes `exit_code` atomically;
  states are read from files only, never from `waitpid`. A runner killed by a
  signal (stock: `status >> 8` == 0, i.e. COMPLETE) is EXECUTOR_ERROR.
* Cancel (stock: a no-op) sends SIGTERM to cwltool, which stops its jobs;
  the run is CANCELING until the runner has exited, then CANCELED.
* Unknown run ids (stock: status RUNNING and a new empty run directory, or
  500) answer 404; submissions lacking workflow_url/workflow_params answer
  400 instead of 500.
* Each runner runs under a small supervisor (this file, `--supervise`)
  that has the kernel signal it when the server dies, however it dies
  (PR_SET_PDEATHSIG), and then stops the runner's whole process group
  (cwltool and the tools it runs): killing the server, even with SIGKILL,
  leaves no workflow running. Cancel goes through the same path.
* `service-info` names the engine and its version (stock: `"b''"`) and counts
  runs per state; `GET /runs` lists under `runs` as WES 1.0 says, and under
  the stock `workflows` too.
* `--token T`: every request under /ga4gh/wes/v1 except `GET /service-info`
  (all of them with `--service-info-auth`) needs `Authorization: Bearer T`,
  else 401. wes-service itself has no authentication.
"""

import argparse
import hmac
import json
import logging
import os
import re
import signal
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
from typing import Any, Optional

GRACE_SECONDS = 5


def supervise(command: list[str]) -> int:
    """Runs a run's runner in a process group of its own and returns its exit
    code; on SIGTERM (cancel, or the server's death) stops the whole group:
    SIGTERM, then SIGKILL after a grace period. (cwltool alone waits 10 s per
    job on SIGTERM and, signalled twice, leaves its jobs running.)"""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ppid = os.getppid()
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != ppid:  # the server died before prctl
        return 128 + signal.SIGTERM
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    proc = subprocess.Popen(command, start_new_session=True)  # nosec B603
    while proc.poll() is None and not stopping.is_set():
        stopping.wait(0.2)
    if stopping.is_set():
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    _killpg(proc.pid, signal.SIGKILL)  # whatever the runner left behind
    code = proc.wait()
    return 128 - code if code < 0 else code


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__" and sys.argv[1:3] == ["--supervise", "--"]:
    # A run's supervisor: stdlib only, so nothing lands in the run's stderr.
    sys.exit(supervise(sys.argv[3:]))

import uvicorn  # noqa: E402
from wes_service import cwl_runner, wes_service_main  # noqa: E402

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
STATES = [
    "UNKNOWN",
    "QUEUED",
    "INITIALIZING",
    "RUNNING",
    "PAUSED",
    "COMPLETE",
    "EXECUTOR_ERROR",
    "SYSTEM_ERROR",
    "CANCELED",
    "CANCELING",
]

# Runners this server process started and is still waiting for.
_live: dict[str, subprocess.Popen] = {}
_live_lock = threading.Lock()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


class Workflow(cwl_runner.Workflow):
    """wes-service's run, with its exit status kept and cancel working."""

    def _path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def run(
        self, request: dict[str, str], tempdir: str, opts: cwl_runner.WESBackend
    ) -> dict[str, str]:
        """Starts the runner as stock wes-service does, but from a thread that
        keeps waiting for it and records its exit code."""
        with open(self._path("request.json"), "w") as f:
            json.dump(request, f)
        with open(self._path("cwl.input.json"), "w") as f:
            json.dump(request["workflow_params"], f)
        workflow_url = str(request.get("workflow_url"))
        runner = str(opts.getopt("runner", default="cwl-runner"))
        extra = [e for e in opts.getoptlist("extra") if not e.startswith("--outdir=")]
        extra.append("--outdir=" + self.outdir)
        if workflow_url.startswith("file://"):
            os.symlink(workflow_url[7:], os.path.join(tempdir, "wes_workflow.cwl"))
            workflow_url = os.path.join(tempdir, "wes_workflow.cwl")
        jsonpath = os.path.join(tempdir, "cwl.input.json")
        os.symlink(self._path("cwl.input.json"), jsonpath)
        command = [runner] + extra + [workflow_url, jsonpath]
        prefix = [sys.executable, os.path.abspath(__file__), "--supervise", "--"]
        _write_atomic(self._path("cmd.json"), json.dumps(command))
        _write_atomic(self._path("start_time"), _now())

        started = threading.Event()
        failure: list[BaseException] = []

        def wait() -> None:
            # The supervisor's parent is this thread: it lives exactly as long
            # as the supervisor, so its death signal fires only when the
            # server dies.
            try:
                with open(self._path("cwl.output.json"), "w") as out, open(
                    self._path("stderr"), "w"
                ) as err:
                    proc = subprocess.Popen(  # nosec B603
                        prefix + command,
                        stdout=out,
                        stderr=err,
                        stdin=subprocess.DEVNULL,
                        close_fds=True,
                        cwd=tempdir,
                    )
            except BaseException as e:  # noqa: BLE001 - reported to run()
                failure.append(e)
                _write_atomic(self._path("exit_code"), "255")
                _write_atomic(self._path("end_time"), _now())
                started.set()
                return
            with _live_lock:
                _live[self.run_id] = proc
            _write_atomic(self._path("pid"), str(proc.pid))
            started.set()
            code = proc.wait()
            if code < 0:  # killed by a signal
                code = 128 - code
            _write_atomic(self._path("end_time"), _now())
            _write_atomic(self._path("exit_code"), str(code))
            with _live_lock:
                _live.pop(self.run_id, None)

        threading.Thread(target=wait, name="run-" + self.run_id, daemon=True).start()
        started.wait()
        if failure:
            logging.error("run %s: cannot start %s: %s", self.run_id, runner, failure[0])
        return self.getstatus()

    def getstate(self) -> tuple[str, int]:
        """The run's state and exit code (-1 while it has none), from its
        files alone."""
        code = _read(self._path("exit_code"))
        canceled = os.path.exists(self._path("cancel"))
        if code is not None and code.strip():
            exit_code = int(code)
            if exit_code == 0:
                return "COMPLETE", 0
            return ("CANCELED" if canceled else "EXECUTOR_ERROR"), exit_code
        with _live_lock:
            live = self.run_id in _live
        if live:
            return ("CANCELING" if canceled else "RUNNING"), -1
        if os.path.exists(self._path("pid")):
            # Started by an earlier server process, which died before the
            # runner ended (the runner got SIGTERM with it).
            return "SYSTEM_ERROR", -1
        return "INITIALIZING", -1

    def getlog(self) -> dict[str, Any]:
        """Stock run log, with the command and times filled in."""
        log = super().getlog()
        cmd = _read(self._path("cmd.json"))
        log["run_log"].update(
            {
                "name": os.path.basename(str(log["request"].get("workflow_url", ""))),
                "cmd": json.loads(cmd) if cmd else [],
                "start_time": (_read(self._path("start_time")) or "").strip(),
                "end_time": (_read(self._path("end_time")) or "").strip(),
            }
        )
        return log

    def cancel(self) -> None:
        """Stops a running run: SIGTERM to cwltool, which ends its jobs."""
        with _live_lock:
            proc = _live.get(self.run_id)
        if proc is None:
            return
        _write_atomic(self._path("cancel"), _now())
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass


def _exists(run_id: str) -> bool:
    return bool(RUN_ID.match(run_id)) and os.path.isfile(
        os.path.join(os.getcwd(), "workflows", run_id, "request.json")
    )


def _error(status: int, msg: str) -> tuple[dict[str, Any], int]:
    return {"msg": msg, "status_code": status}, status


class Backend(cwl_runner.CWLRunnerBackend):
    """wes-service's cwltool backend with 404s for unknown runs."""

    engine_version: Optional[str] = None

    def GetServiceInfo(self) -> dict[str, Any]:
        """Stock service-info with the engine's real version and counts."""
        runner = str(self.getopt("runner", default="cwl-runner"))
        if Backend.engine_version is None:
            out = subprocess.run(  # nosec B603
                [runner, "--version"], capture_output=True, text=True, check=False
            ).stdout.split()
            Backend.engine_version = out[-1] if out else ""
        counts = {s: 0 for s in STATES}
        for run in self.ListRuns()["runs"]:
            counts[run["state"]] = counts.get(run["state"], 0) + 1
        return {
            "workflow_type_versions": {
                "CWL": {"workflow_type_version": ["v1.0", "v1.1", "v1.2"]}
            },
            "supported_wes_versions": ["0.3.0", "1.0.0"],
            "supported_filesystem_protocols": ["file", "http", "https"],
            "workflow_engine_versions": {"cwltool": Backend.engine_version},
            "default_workflow_engine_parameters": [],
            "system_state_counts": counts,
            "auth_instructions_url": "",
            "tags": {},
        }

    def ListRuns(
        self, page_size: Any = None, page_token: Any = None, state_search: Any = None
    ) -> dict[str, Any]:
        """Stock listing (no paging), of real runs only, under both keys."""
        base = os.path.join(os.getcwd(), "workflows")
        runs = []
        if os.path.isdir(base):
            for entry in sorted(os.listdir(base)):
                if _exists(entry):
                    runs.append({"run_id": entry, "state": Workflow(entry).getstate()[0]})
        return {"runs": runs, "workflows": runs, "next_page_token": ""}

    def RunWorkflow(self, **args: Any) -> Any:
        """Stock submit; a malformed submission is a 400."""
        try:
            return super().RunWorkflow(**args)
        except (ValueError, KeyError) as e:
            return _error(400, str(e))

    def GetRunLog(self, run_id: str) -> Any:
        if not _exists(run_id):
            return _error(404, "run %s not found" % run_id)
        return super().GetRunLog(run_id)

    def GetRunStatus(self, run_id: str) -> Any:
        if not _exists(run_id):
            return _error(404, "run %s not found" % run_id)
        return super().GetRunStatus(run_id)

    def CancelRun(self, run_id: str) -> Any:
        if not _exists(run_id):
            return _error(404, "run %s not found" % run_id)
        return super().CancelRun(run_id)


def create_backend(app: Any, opts: list[str]) -> Backend:
    """The patched backend (selected with --backend=wes_server)."""
    return Backend(opts)


class BearerAuth:
    """ASGI middleware: 401 unless `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str, service_info_auth: bool) -> None:
        self.app = app
        self.token = token.encode()
        self.service_info_auth = service_info_auth

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/ga4gh/wes/v1"):
            public = (
                not self.service_info_auth
                and scope["method"] in ("GET", "HEAD")
                and scope["path"].rstrip("/") == "/ga4gh/wes/v1/service-info"
            )
            if not public and not self._allowed(scope):
                body = json.dumps(
                    {"msg": "missing or wrong bearer token", "status_code": 401}
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="wes"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Any) -> bool:
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    token.strip(), self.token
                )
        return False


def main(argv: list[str]) -> None:
    parser = wes_service_main.get_parser()
    parser.set_defaults(backend="wes_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=os.environ.get("WES_TOKEN") or None)
    parser.add_argument("--service-info-auth", action="store_true")
    args = parser.parse_args(argv)
    cwl_runner.Workflow = Workflow  # the stock backend's methods use it too
    tempfile.tempdir = None  # honour TMPDIR as set by scripts/wes-server
    token, service_info_auth, host = args.token, args.service_info_auth, args.host
    for extra in ("token", "service_info_auth", "host"):
        delattr(args, extra)
    app: Any = wes_service_main.setup(args)
    if token:
        app = BearerAuth(app, token, service_info_auth)
    uvicorn.run(app, host=host, port=args.port, log_level="info")


if __name__ == "__main__":
    sys.modules.setdefault("wes_server", sys.modules[__name__])
    main(sys.argv[1:])
