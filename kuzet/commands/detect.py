"""`kuzet detect` and `kuzet watchlist`: the detector process and the face watch-list.

This module is the composition root for `detectors/`: it reads `Settings` and the cameras file,
builds the frozen `DetectConfig`, the evidence store, the analyser and the Kafka publisher, and
turns `DetectorError`s into one-line `KuzetError`s. cv2/onnxruntime are imported lazily so
`kuzet --help` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kuzet.errors import KuzetError
from kuzet.settings import Settings, load_settings

if TYPE_CHECKING:
    from detectors.config import DetectConfig
    from detectors.faces import FaceEngine
    from detectors.mqtt import MqttIngress
    from detectors.publisher import KafkaPublisher
    from detectors.watchlist import Watchlist

__all__ = ["register"]

err = Console(stderr=True)
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (section [kuzet]).")
]
_DEFAULT_MQTT_TOPICS = ("kuzet/sensors/+/alarm",)
watchlist_app = typer.Typer(help="Manage the face watch-list (embeddings only, never photos).",
                            no_args_is_help=True)


@contextmanager
def _detector_errors() -> Iterator[None]:
    from detectors.errors import DetectorError

    try:
        yield
    except DetectorError as exc:
        raise KuzetError(str(exc)) from None


def _names(detectors: str) -> list[str]:
    """`--detectors a, b,c` -> ["a", "b", "c"]."""
    return [d.strip() for d in detectors.split(",") if d.strip()]


def _build_config(settings: Settings, cameras: Path | None, source: str | None,
                  camera: str | None, names: list[str], extra: dict[str, object]) -> DetectConfig:
    from detectors.config import build_config, load_cameras_file, single_camera

    if cameras is not None and source is not None:
        raise KuzetError("give either --cameras FILE or --source URL --camera ID, not both")
    if cameras is not None:
        return load_cameras_file(cameras, data_dir=settings.data_dir)
    if source is not None:
        if not camera:
            raise KuzetError("--source needs --camera ID")
        return single_camera(source, camera, names, data_dir=settings.data_dir, extra=extra)
    return build_config({}, data_dir=settings.data_dir, base_dir=Path.cwd())


def _once(config: DetectConfig, image_path: Path, names: list[str]) -> None:
    import dataclasses
    from datetime import UTC, datetime

    import cv2

    from detectors.analysis import Analyser
    from detectors.config import CameraConfig
    from detectors.frames import Frame
    from domain.detection import detection_to_dict

    image = cv2.imread(str(image_path))
    if image is None:
        raise KuzetError(f"--once {image_path}: not a readable image")
    cam = CameraConfig(id="once", url=str(image_path), detectors=tuple(names))
    config = dataclasses.replace(config, cameras=(cam,))
    frame = Frame(cam, image, datetime.now(UTC))
    records = Analyser(config).analyse([frame])
    print(json.dumps([detection_to_dict(d) for d in records], indent=2))


def _start_sensors(listen: str, publisher: KafkaPublisher, token: str | None) -> None:
    import uvicorn

    from detectors.sensors import create_sensor_app

    host, _, port = listen.rpartition(":")
    try:
        server = uvicorn.Server(uvicorn.Config(
            create_sensor_app(publisher.publish_detection, token=token),
            host=host or "127.0.0.1", port=int(port), log_level="warning"))
    except ValueError:
        raise KuzetError(f"--sensors-listen {listen!r}: expected HOST:PORT") from None
    threading.Thread(target=server.run, name="sensor-ingress", daemon=True).start()
    err.print(f"sensor ingress on http://{host or '127.0.0.1'}:{port}/sensors/v1/signals")


def _start_mqtt(config: DetectConfig, publisher: KafkaPublisher) -> MqttIngress | None:
    from detectors.mqtt import MqttIngress

    if config.mqtt is None:
        return None
    ingress = MqttIngress(config.mqtt, publisher,
                          reconnect_max_s=config.reconnect_max_s).start()
    if ingress.ready.wait(config.open_timeout_s + 5):
        err.print(f"mqtt ingress subscribed to {', '.join(config.mqtt.topics)} "
                  f"on {config.mqtt.url}")
    else:
        err.print(f"mqtt broker {config.mqtt.url} not reachable yet; retrying in the background")
    return ingress


def _with_mqtt(config: DetectConfig, url: str | None, topics: list[str] | None,
               username: str | None, password: str | None) -> DetectConfig:
    """Apply `--mqtt*` options over the cameras file's `[mqtt]` table."""
    import dataclasses

    from detectors.config import mqtt_config

    base = config.mqtt
    if url is None and base is None:
        if topics:
            raise KuzetError("--mqtt-topic needs --mqtt URL (or an [mqtt] table)")
        return config
    mqtt = mqtt_config(
        url or (base.url if base else ""),
        list(topics or (base.topics if base else _DEFAULT_MQTT_TOPICS)),
        qos=base.qos if base else 1, client_id=base.client_id if base else None,
        username=username or (base.username if base else None), password=password,
        where="--mqtt" if url else "mqtt")
    return dataclasses.replace(config, mqtt=mqtt)


def _run(settings: Settings, config: DetectConfig, duration: float | None,
         sensors: str | None, sensors_token: str | None) -> None:
    from detectors.analysis import Analyser
    from detectors.evidence import EvidenceStore
    from detectors.pipeline import Pipeline
    from detectors.publisher import KafkaPublisher, PublisherOptions
    from domain.topics import DETECTIONS, DETECTIONS_DLQ, HEALTH
    from kuzet.health import serve_health
    from kuzet.kafka import client_options, ensure_topics
    from kuzet.lifecycle import STOP_BOUND_S, Stopping, raise_on_signals

    raise_on_signals()  # SIGTERM like SIGINT: stop capturing, flush the queue, exit 0
    bootstrap = settings.bootstrap_servers
    topics = [DETECTIONS, HEALTH] + ([DETECTIONS_DLQ] if config.mqtt else [])
    asyncio.run(ensure_topics(bootstrap, topics, settings.kafka_partitions,
                              options=client_options(settings)))
    publisher = KafkaPublisher(bootstrap, PublisherOptions(
        max_queue=config.queue_size, client_id=config.node,
        client_options=client_options(settings))).start()
    ingress = None
    serve_health("detect", settings.health_port, lambda: (
        publisher.pending < publisher.options.max_queue, {"pending": publisher.pending,
                                                          "sent": publisher.sent}))
    stats = None
    try:
        if sensors:
            _start_sensors(sensors, publisher, sensors_token)
        ingress = _start_mqtt(config, publisher)
        analyser = Analyser(config, EvidenceStore(config.evidence_dir))
        pipeline = Pipeline(config, publisher, analyser)
        if not config.cameras and (sensors or ingress):
            threading.Event().wait(duration)
            stats = pipeline.stats
        else:
            stats = pipeline.run(max_seconds=duration)
    except Stopping:
        err.print("stopping…")
    finally:
        if ingress is not None:
            ingress.stop()
        publisher.close(timeout=STOP_BOUND_S - 2)
    if stats is None:
        return
    if ingress is not None:
        err.print(f"mqtt signals accepted {ingress.stats.accepted}, "
                  f"rejected {ingress.stats.rejected} (dead-lettered)")
    err.print(f"frames {stats.frames} (dropped {stats.frames_dropped}), "
              f"detections {dict(stats.detections)}, sent {publisher.sent}, "
              f"dropped records {publisher.dropped}, {stats.elapsed_s:.1f}s")


def detect(
    config: ConfigOpt = None,
    cameras: Annotated[Path | None, typer.Option(help="Cameras TOML file.")] = None,
    source: Annotated[str | None, typer.Option(help="One source: file, folder or URL.")] = None,
    camera: Annotated[str | None, typer.Option(help="Camera id for --source.")] = None,
    detectors: Annotated[str | None, typer.Option(
        help="Comma-separated: objects, canteen, faces, plates, fire, dumps, model:<name> "
             "(default objects; objects,faces,plates with --once).")] = None,
    site: Annotated[str | None, typer.Option(help="Site id for --source.")] = None,
    kind: Annotated[str, typer.Option(help="camera or dashcam (for --source).")] = "camera",
    gps: Annotated[Path | None, typer.Option(help="GPS sidecar (GPX or JSON lines).")] = None,
    sample_fps: Annotated[float, typer.Option(help="Frames per second to analyse.")] = 2.0,
    snapshots: Annotated[bool, typer.Option(help="Attach JPEG evidence.")] = False,
    once: Annotated[Path | None, typer.Option(help="Analyse one image, print JSON.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    sensors_listen: Annotated[str | None, typer.Option(help="HOST:PORT for sensor HTTP.")] = None,
    sensors_token: Annotated[str | None, typer.Option(envvar="KUZET_SENSORS_TOKEN",
                                                      help="Bearer token sensors must send.",
                                                      show_default=False)] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics.")] = None,
    mqtt: Annotated[str | None, typer.Option(
        help="Sensor signals from an MQTT broker: mqtt://HOST[:PORT] or mqtts://...")] = None,
    mqtt_topic: Annotated[list[str] | None, typer.Option(
        help="Topic filter to subscribe (repeatable; default kuzet/sensors/+/alarm).")] = None,
    mqtt_username: Annotated[str | None, typer.Option(help="MQTT user name.")] = None,
    mqtt_password: Annotated[str | None, typer.Option(envvar="KUZET_MQTT_PASSWORD",
                                                      help="MQTT password.",
                                                      show_default=False)] = None,
) -> None:
    """Run detectors on cameras, dash-cams and sensors; publish to kuzet.detections.v1."""
    settings = load_settings(config)
    extra: dict[str, object] = {"site_id": site, "kind": kind, "sample_fps": sample_fps,
                                "snapshots": snapshots}
    if gps is not None:
        extra["gps"] = str(gps.resolve())
    with _detector_errors():
        names = _names(detectors or ("objects,faces,plates" if once else "objects"))
        cfg = _build_config(settings, cameras, source, camera, names,
                            {k: v for k, v in extra.items() if v is not None})
        cfg = _with_mqtt(cfg, mqtt, mqtt_topic, mqtt_username, mqtt_password)
        if once is not None:
            _once(cfg, once, names)
            return
        if metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(metrics_port)
        _run(settings, cfg, duration, sensors_listen, sensors_token)


def _watchlist_path(settings: Settings) -> Path:
    from detectors.config import DetectConfig

    return DetectConfig(cameras=(), models={}, data_dir=settings.data_dir).watchlist_path


def _engine(settings: Settings) -> tuple[FaceEngine, Watchlist]:
    from detectors.config import build_config
    from detectors.faces import FaceEngine
    from detectors.watchlist import Watchlist

    cfg = build_config({}, data_dir=settings.data_dir, base_dir=Path.cwd())
    try:
        engine = FaceEngine(cfg.models["faces_detector"], cfg.models["faces_embedder"])
    except KeyError as exc:
        raise KuzetError(f"no face model configured ({exc.args[0]})") from None
    return engine, Watchlist(cfg.watchlist_path)


@watchlist_app.command("enrol")
def enrol(
    subject_id: Annotated[str, typer.Argument(help="Subject id published in face_match.")],
    images: Annotated[list[Path], typer.Argument(help="Photo(s) of the subject.")],
    label: Annotated[str | None, typer.Option(help="Label kept locally.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Enrol a subject from photos: the largest face of each is embedded and stored."""
    import cv2

    from detectors.errors import WatchlistError

    with _detector_errors():
        engine, watchlist = _engine(load_settings(config))
        for path in images:
            image = cv2.imread(str(path))
            if image is None:
                raise WatchlistError(f"{path}: not a readable image")
            faces = engine.detect(image)
            if not faces:
                raise WatchlistError(f"{path}: no face found")
            face = max(faces, key=lambda f: f.w * f.h)
            watchlist.enrol(subject_id, engine.embed(image, face),
                            model=engine.embedder.name, label=label)
            err.print(f"enrolled {subject_id} from {path.name} ({len(faces)} face(s) seen)")


@watchlist_app.command("list")
def list_subjects(config: ConfigOpt = None) -> None:
    """List enrolled subjects as JSON lines."""
    from detectors.watchlist import Watchlist

    settings = load_settings(config)
    with _detector_errors():
        for s in Watchlist(_watchlist_path(settings)).subjects():
            sys.stdout.write(json.dumps({"subject_id": s.subject_id, "label": s.label,
                                         "embeddings": s.embeddings,
                                         "enrolled_at": s.enrolled_at}) + "\n")


@watchlist_app.command("remove")
def remove(subject_id: str, config: ConfigOpt = None) -> None:
    """Remove a subject and all its embeddings."""
    from detectors.watchlist import Watchlist

    settings = load_settings(config)
    with _detector_errors():
        removed = Watchlist(_watchlist_path(settings)).remove(subject_id)
    if not removed:
        raise KuzetError(f"subject {subject_id!r} is not on the watch-list")
    err.print(f"removed {subject_id} ({removed} embedding(s))")


def register(app: typer.Typer) -> None:
    app.command()(detect)
    app.add_typer(watchlist_app, name="watchlist")
