"""`mlops-events up` and `mlops-events trigger`: the local cloud and Cloud Scheduler's "run now"."""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

_STATE_DIR_HELP = "where the local cloud keeps its logs and state (default .mlops-events/)"


def _state_dir(state_dir: Path | None) -> Path:
    from shared.config import load_settings

    return state_dir or load_settings().state_dir


def _running_dir(state_dir: Path | None) -> Path:
    """The state dir of the `up` a command talks to: --state-dir, else MLOPS_EVENTS_STATE_DIR, else the one a
    sourced up.env names (so the command works from any folder), else the default."""
    import os

    from tooling.localcloud.reachability import LOCAL_CLOUD_DIR_VARIABLE

    sourced = os.environ.get(LOCAL_CLOUD_DIR_VARIABLE)
    if state_dir is None and sourced and not os.environ.get("MLOPS_EVENTS_STATE_DIR"):
        return Path(sourced)
    return _state_dir(state_dir)


def _known_functions(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """`--only`'s names, split on commas; a name the manifest does not have is a usage error naming those it has."""
    if not value:
        return ()
    from tooling.localcloud.needs import UnknownFunction, select
    from tooling.manifest import load_manifest

    try:
        select(load_manifest(), value)
    except UnknownFunction as exc:
        raise click.BadParameter(str(exc)) from None
    return tuple(name.strip() for item in value for name in item.split(",") if name.strip())


def _alias_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refused here, before anything starts, as the service would refuse it at its start."""
    if value is None:
        return None
    from shared.errors import PermanentError
    from shared.model_registry import alias_name

    try:
        return alias_name(value)
    except PermanentError as exc:
        raise click.BadParameter(str(exc)) from None


def _capture_sinks(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`parquet`, `bigquery` or both, as INFERENCE_CAPTURE_SINK takes them: refused before anything starts."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    if not names or any(name not in ("parquet", "bigquery") for name in names) or len(set(names)) != len(names):
        raise click.BadParameter(f"parquet, bigquery or both (parquet,bigquery), not {value!r:.80}")
    return ",".join(names)


@click.command()
@click.option("--state-dir", type=click.Path(path_type=Path), help=_STATE_DIR_HELP)
@click.option("--project", default="mlops-events-local", show_default=True, help="the emulated GCP project")
@click.option("--env", "envs", multiple=True, default=["dev"], show_default=True, help="environments (buckets)")
@click.option(
    "--backoff-scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="multiply the manifest's retry backoffs (0.05 for a quick local loop); counts stay the same",
)
@click.option("--no-schedules", is_flag=True, help="do not fire the crons (`mlops-events trigger JOB` still works)")
@click.option("--no-inference", is_flag=True, help="do not serve the inference service")
@click.option(
    "--inference-alias",
    metavar="ALIAS",
    callback=_alias_name,
    help="the inference service serves the version this alias (champion, ...) points to and follows it when it "
    "moves (MODEL_ALIAS); default: the latest version",
)
@click.option(
    "--inference-capture",
    metavar="SINKS",
    callback=_capture_sinks,
    help="where the inference service captures its predictions: parquet (gs://ml-predictions-ENV on "
    "fake-gcs-server, the default), bigquery (ml_monitoring.predictions on bqemulator, as in the cloud) or "
    "both, comma-separated (/feedback reads the first)",
)
# No envvar on purpose: a webhook set for the embedded profile must not receive the emulators' alerts.
@click.option("--slack-webhook-url", help="post to this real webhook instead of the local receiver")
@click.option(
    "--rollout-targets",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="which Deployments follow which ECR repository (default: events/ecr/targets.yaml)",
)
@click.option(
    "--only",
    multiple=True,
    metavar="FUNCTION[,FUNCTION...]",
    callback=_known_functions,
    help="serve only these functions (repeatable; `inference` for the inference service) and start only the "
    "emulators they need",
)
@click.option(
    "--import",
    "import_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="start from the emulators' data an --export-on-exit wrote to this folder",
)
@click.option(
    "--export-on-exit",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="on Ctrl-C (or `down`), write the emulators' data to this folder (replaced whole)",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="roll out to this cluster (kind, k3d, k3s...) instead of the Kubernetes API test server",
)
@click.option("--context", "kube_context", help="the --kubeconfig context to use (default: its current-context)")
def up(
    state_dir,
    project,
    envs,
    backoff_scale,
    no_schedules,
    no_inference,
    inference_alias,
    inference_capture,
    slack_webhook_url,
    rollout_targets,
    only,
    import_dir,
    export_dir,
    kubeconfig,
    kube_context,
):
    """Run every function on the emulators, wired to its real trigger, until Ctrl-C.

    Drop a file into gs://ml-models-dev (fake-gcs-server) and watch it registered; publish to a topic; put an
    image into the local ECR (moto); `mlops-events trigger JOB` runs a schedule now.
    """
    try:
        from shared.errors import MlopsEventsError
        from tooling.localcloud.console import LiveConsole
        from tooling.localcloud.control import read_state
        from tooling.localcloud.emulators import EmulatorError
        from tooling.localcloud.processes import pid_alive
        from tooling.localcloud.up import LocalCloud, UpOptions
    except ImportError as exc:
        raise click.ClickException(
            f"{exc.name} is missing: `pip install -e '.[local]'` installs the local cloud"
        ) from None

    folder = _state_dir(state_dir)
    running = read_state(folder)
    pid = running.get("pid") if running else None
    if running and isinstance(pid, int) and pid_alive(pid):
        raise click.ClickException(f"a local cloud already runs from {folder} (pid {running['pid']})")
    options = UpOptions(
        state_dir=folder,
        project=project,
        envs=tuple(envs),
        backoff_scale=backoff_scale,
        schedules=not no_schedules,
        inference=not no_inference,
        inference_alias=inference_alias,
        inference_capture=inference_capture,
        slack_webhook_url=slack_webhook_url,
        only=only,
        import_dir=import_dir.resolve() if import_dir else None,
        export_dir=export_dir.resolve() if export_dir else None,
        kubeconfig=kubeconfig,
        kube_context=kube_context,
        **({"rollout_targets": rollout_targets} if rollout_targets else {}),
    )
    console = LiveConsole()
    cloud: LocalCloud | None = None
    # Ctrl-C and a plain `kill` both stop everything (Python skips cleanup on an unhandled SIGTERM).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (a `&` job)
    code = 0
    try:
        cloud = LocalCloud(options, console.show)  # a bad cron or manifest fails here, before anything starts
        with console.console.status("starting the local cloud…") as status:
            cloud.start(progress=lambda what: status.update(what))
        console.show_services(cloud.state())
        console.console.print(f"ready. `source {cloud.state_dir / 'up.env'}` points your shell at the emulators.")
        console.console.print("Ctrl-C stops everything.\n")
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except (EmulatorError, MlopsEventsError, RuntimeError, ValueError) as exc:  # ValueError: a bad cron
        console.console.print(f"[red]could not start: {exc}[/red]")
        code = 1
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if cloud is not None:
            groups = cloud.process_groups()
            left = cloud.stop()
            if left:
                console.console.print(f"[red]still running after stop: {left}[/red]")
                code = 1
            else:
                console.console.print(f"stopped {len(groups)} process groups; none left running.")
            if cloud.export_error:
                console.console.print(f"[red]export to {options.export_dir} failed: {cloud.export_error}[/red]")
                code = 1
            elif cloud.exported:
                held = ", ".join(cloud.exported["holds"]) or "nothing"
                console.console.print(f"exported {held} to {options.export_dir}")
    sys.exit(code)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _ListsJobs(click.Command):
    """`trigger --help` ends with the manifest's jobs, read when the help is shown (not at every start of the CLI)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from tooling.localcloud.provision import scheduled_jobs
        from tooling.manifest import load_manifest

        rows = []
        for job, spec in scheduled_jobs(load_manifest()):
            trigger = spec.trigger
            how = "HTTP call" if trigger.get("kind") == "http" else f"publishes to {trigger.get('topic')}"
            when = f"{trigger['schedule']!r} ({trigger.get('time_zone', 'Etc/UTC')})"
            rows.append((job, f"{spec.name}: {when}, {how}"))
        with formatter.section("Jobs (functions/manifest.yaml)"):
            formatter.write_dl(rows)
        super().format_epilog(ctx, formatter)


@click.command(cls=_ListsJobs)
@click.argument("job")
@click.option("--state-dir", type=click.Path(path_type=Path), help=_STATE_DIR_HELP)
def trigger(job: str, state_dir: Path | None) -> None:
    """Run a schedule JOB of the running local cloud now (Cloud Scheduler's "force run")."""
    from tooling.localcloud.control import read_state

    folder = _running_dir(state_dir)
    state = read_state(folder)
    if not state:
        raise click.ClickException(f"no local cloud runs from {folder}: start `mlops-events up` first")
    request = urllib.request.Request(f"{state['control_url']}/jobs/{job}:run", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as answer:
        body = json.loads(answer.read() or b"{}")
        known = ", ".join(body.get("jobs", []))
        raise click.ClickException(
            f"{body.get('error', answer.code)}" + (f"; jobs: {known}" if known else "")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"the local cloud at {state['control_url']} does not answer: {exc}") from None
    click.echo(f"fired {body['job']}: watch the up console, or {folder / 'events.jsonl'}")


@click.command()
@click.option("--state-dir", type=click.Path(path_type=Path), help=_STATE_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(state_dir: Path | None, as_json: bool) -> None:
    """What the local cloud runs, where, since when, and whether each part answers.

    Exit 0 when it runs and every part answers, 1 when something does not answer or no `up` runs.
    """
    from tooling.localcloud.lifecycle import NotRunning, components, live_state, uptime

    folder = _state_dir(state_dir)
    try:
        state = live_state(folder)
    except NotRunning as exc:
        if as_json:
            click.echo(json.dumps({"running": False, "state_dir": str(folder), "reason": str(exc)}, indent=2))
            sys.exit(1)
        raise click.ClickException(str(exc)) from None
    parts = components(state)
    healthy = all(part.healthy for part in parts)
    if as_json:
        report = {
            "running": True,
            "healthy": healthy,
            **{k: state.get(k) for k in ("pid", "started_at", "state_dir", "project", "envs", "control_url")},
            "only": state.get("only"),
            "components": [part.as_dict() for part in parts],
        }
        click.echo(json.dumps(report, indent=2))
        sys.exit(0 if healthy else 1)
    since = state.get("started_at") or "?"
    click.echo(f"local cloud in {state['state_dir']}: pid {state['pid']}, up since {since} ({uptime(since)})")
    click.echo(f"project {state['project']}, envs {', '.join(state['envs'])}" + _only_note(state))
    click.echo(f"{'KIND':<9} {'NAME':<20} {'HEALTH':<8} {'PID':>7}  WHERE")
    for part in parts:
        health = "ok" if part.healthy else "DOWN"
        pid = str(part.pid) if part.pid else "-"
        note = f"  ({part.detail})" if part.detail else ""
        click.echo(f"{part.kind:<9} {part.name:<20} {health:<8} {pid:>7}  {part.url}{note}")
    if not healthy:
        down = ", ".join(part.name for part in parts if not part.healthy)
        raise click.ClickException(f"not answering: {down} (logs in {Path(state['state_dir']) / 'logs'})")


def _only_note(state: dict) -> str:
    only = state.get("only")
    return f"; only {', '.join(only)}" if only else ""


@click.command()
@click.option("--state-dir", type=click.Path(path_type=Path), help=_STATE_DIR_HELP)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="seconds to wait for it to stop",
)
def down(state_dir: Path | None, timeout_s: float) -> None:
    """Stop the local cloud running from another shell (as Ctrl-C there would), and remove up.json and up.env."""
    from tooling.localcloud.lifecycle import NotRunning, stop

    folder = _state_dir(state_dir)
    try:
        pid, took_s = stop(folder, timeout_s)
    except NotRunning as exc:
        click.echo(f"{exc}; nothing to stop")
        return
    except TimeoutError as exc:
        raise click.ClickException(f"{exc}: its console says what it waits for") from None
    click.echo(f"stopped the local cloud in {folder} (pid {pid}) in {took_s:.1f} s")


_SAMPLES_BUCKET = "ml-models-dev"  # events/objects/<bucket>/: the repository's sample model files


def _samples_root() -> Path:
    from tooling.manifest import REPO_ROOT

    return REPO_ROOT / "events" / "objects" / _SAMPLES_BUCKET


def _sample_names() -> list[str]:
    root = _samples_root()
    return sorted(str(folder.relative_to(root)) for folder in root.glob("*/*") if folder.is_dir())


def _demo_model_files(folder: Path) -> list[Path]:
    """The demo fraud-detector model (mlops_inference.train), trained once into `folder`."""
    if not (folder / "model.pt").is_file():
        try:
            from mlops_inference import train
        except ImportError as exc:
            raise click.ClickException(f"training the demo model needs torch ({exc.name} is missing)") from None
        click.echo(f"training the demo model into {folder}")
        train.train(folder)
    return [folder / "model.json", folder / "model.pt"]


def _put_object(storage_url: str, bucket: str, name: str, data: bytes) -> dict:
    from urllib.parse import quote

    url = f"{storage_url}/upload/storage/v1/b/{quote(bucket, safe='')}/o?uploadType=media&name={quote(name, safe='')}"
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as answer:
        reason = answer.read().decode(errors="replace").strip()[:200]
        missing = f"no bucket {bucket} in the local cloud" if answer.code == 404 else f"HTTP {answer.code}"
        raise click.ClickException(f"gs://{bucket}/{name}: {missing} ({reason})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"the local Cloud Storage at {storage_url} does not answer: {exc}") from None


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "destination", metavar="gs://BUCKET/PREFIX", help="where the files go (each keeps its name)")
@click.option(
    "--sample",
    metavar="MODEL/vN",
    help=f"the repository's sample model files (events/objects/{_SAMPLES_BUCKET}/MODEL/vN/), to "
    f"gs://{_SAMPLES_BUCKET}/MODEL/vN/ unless --to says otherwise",
)
@click.option(
    "--demo-model",
    is_flag=True,
    help="the demo fraud-detector model (model.json, model.pt), trained once into <state-dir>/demo-model; needs torch",
)
@click.option("--state-dir", type=click.Path(path_type=Path), help=_STATE_DIR_HELP)
def upload(
    files: tuple[Path, ...], destination: str | None, sample: str | None, demo_model: bool, state_dir: Path | None
) -> None:
    """Upload FILES (or a sample, or the demo model) to the running local cloud's Cloud Storage, as `gcloud
    storage cp` does to GCS: the object notification reaches the functions the bucket triggers.

    Works from any folder: it reads where Cloud Storage runs from <state-dir>/up.json (the folder a sourced
    up.env names, else .mlops-events/), and a FILE that does not exist is an error, never an empty object.
    """
    from tooling.localcloud.control import read_state

    if sum((bool(files), sample is not None, demo_model)) != 1:
        raise click.UsageError("name FILES, or --sample MODEL/vN, or --demo-model (one of them)")
    folder = _running_dir(state_dir)
    if sample is not None:
        source = _samples_root() / sample.strip("/")
        if not source.is_dir() or sample.strip("/") not in _sample_names():
            known = ", ".join(_sample_names()) or f"none: {_samples_root()} is not there (an installed copy?)"
            raise click.ClickException(f"no sample {sample!r}; samples: {known}")
        files = tuple(sorted(path for path in source.iterdir() if path.is_file()))
        destination = destination or f"gs://{_SAMPLES_BUCKET}/{sample.strip('/')}/"
    if not destination:
        raise click.UsageError("--to gs://BUCKET/PREFIX is required")
    if not destination.startswith("gs://") or not destination[5:].split("/", 1)[0]:
        raise click.BadParameter(f"{destination!r} is not gs://BUCKET[/PREFIX]", param_hint="--to")
    bucket, _, prefix = destination[5:].partition("/")
    state = read_state(folder)
    if not state:
        raise click.ClickException(f"no local cloud runs from {folder}: start `mlops-events up` first")
    storage = (state.get("emulators") or {}).get("gcs")
    if not storage:
        raise click.ClickException(f"the local cloud in {folder} runs no Cloud Storage (see its --only)")
    if demo_model:
        files = tuple(_demo_model_files(folder / "demo-model"))
    for path in files:
        name = f"{prefix.rstrip('/')}/{path.name}" if prefix.strip("/") else path.name
        stored = _put_object(storage["url"], bucket, name, path.read_bytes())
        size, generation = stored.get("size", "?"), stored.get("generation", "?")
        click.echo(f"gs://{bucket}/{name}  {size} bytes, generation {generation}  (from {path})")
