"""The detector process's configuration: frozen values built from the cameras TOML file.

The composition root (`kuzet/commands/detect.py`) reads the file and the process `Settings`
and calls `build_config`; nothing in `detectors/` reads the environment. Every missing key is
named, and every bad value is named with its key (`ConfigError`).

File layout (see `examples/cameras.toml`): an optional `[detector]` table for process-wide
knobs, optional `[models.<name>]` tables (model paths: `objects`, `faces_detector`,
`faces_embedder`, `ocr`, and any generic YOLO-format model used as `model:<name>`), an optional
`[mqtt]` table (sensor signals from an MQTT broker), and one `[[cameras]]` table per source
with optional `[[cameras.zones]]`.
"""

from __future__ import annotations

import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detectors.errors import ConfigError
from detectors.plate_text import normalise_plate
from detectors.shipped import shipped_path
from domain.kinds import Kind, SourceKind

__all__ = [
    "BUILTIN_DETECTORS",
    "FACE_RUNTIMES",
    "CameraConfig",
    "DetectConfig",
    "ModelConfig",
    "MqttConfig",
    "Zone",
    "build_config",
    "load_cameras_file",
    "mqtt_config",
    "single_camera",
]

BUILTIN_DETECTORS = frozenset({"objects", "canteen", "faces", "plates", "fire", "dumps"})
"""Detector names a camera may enable; `model:<name>` enables a configured generic model."""

FACE_RUNTIMES = frozenset({"opencv", "onnxruntime"})
"""How YuNet/SFace run: OpenCV DNN (CPU) or onnxruntime on the folded files (CUDA or CPU)."""

ZONE_ROLES = frozenset({"count", "canteen", "dump", "container"})
_MEAL = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_DEFAULT_MODELS = {
    "objects": ("yolo11n", "yolo11n", "8.3.250"),
    "faces_detector": ("yunet", "yunet-2023mar-int8bq", "2023mar"),
    "faces_embedder": ("sface", "sface-2021dec-int8bq", "2021dec"),
    "ocr": ("ppocr_rec", "pp-ocrv6-rec-small", "6"),
}


@dataclass(frozen=True, slots=True)
class Zone:
    """A named polygon in normalised frame coordinates with a role (what is counted there)."""

    name: str
    polygon: tuple[tuple[float, float], ...]
    role: str = "count"
    crowd_threshold: int | None = None


WHOLE_FRAME = Zone("frame", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Where a model lives and how its output maps to kinds (generic YOLO-format models)."""

    name: str
    path: Path
    version: str
    classes: Mapping[int, Kind] = field(default_factory=dict)
    score_threshold: float = 0.35
    iou_threshold: float = 0.5
    input_size: int = 640


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """One frame source and what runs on its frames."""

    id: str
    url: str
    source_kind: SourceKind = SourceKind.CAMERA
    site_id: str | None = None
    detectors: tuple[str, ...] = ("objects",)
    sample_fps: float = 2.0
    location: tuple[float, float] | None = None
    gps: Path | None = None
    started_at: datetime | None = None
    zones: tuple[Zone, ...] = (WHOLE_FRAME,)
    snapshots: bool = False
    crowd_threshold: int = 10
    min_interval_s: float = 1.0
    meals: Mapping[str, tuple[time, time]] = field(default_factory=dict)
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """Where sensor signals arrive over MQTT: broker, topic filters, QoS, credentials."""

    host: str
    port: int
    topics: tuple[str, ...]
    qos: int = 1
    tls: bool = False
    client_id: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Everything one detector process needs, immutable once built."""

    cameras: tuple[CameraConfig, ...]
    models: Mapping[str, ModelConfig]
    data_dir: Path
    node: str = "detector"
    heartbeat_s: float = 5.0
    batch_size: int = 8
    batch_wait_s: float = 0.05
    intra_threads: int = 0
    prefer_gpu: bool = True
    queue_size: int = 10_000
    frame_queue_size: int = 64
    face_threshold: float = 0.363
    wanted_plates: frozenset[str] = frozenset()
    publish_all_plates: bool = True
    plate_min_width: int = 120
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    reconnect_max_s: float = 30.0
    face_runtime: str = "opencv"
    mqtt: MqttConfig | None = None

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def watchlist_path(self) -> Path:
        return self.data_dir / "watchlist.sqlite"

    @property
    def model_cache_dir(self) -> Path:
        """Derived model files (folded face models), rebuilt when missing."""
        return self.data_dir / "models"


class _Reader:
    """Reads typed values from a TOML table, naming `where.key` in every error."""

    def __init__(self, table: Mapping[str, Any], where: str, known: set[str]) -> None:
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        self.table, self.where = table, where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.table.get(key, default)
        if value is None:
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ConfigError(f"{self.where}.{key}={value!r}: expected {_kind_name(kind)}")
        return value

    def required(self, key: str, kind: type) -> Any:
        if key not in self.table:
            raise ConfigError(f"{self.where}.{key}: required")
        return self.get(key, kind)

    def positive(self, key: str, default: float) -> float:
        value = float(self.get(key, (int, float), default))
        if value <= 0:
            raise ConfigError(f"{self.where}.{key}={value!r}: must be > 0")
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _path(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _zone(table: Mapping[str, Any], where: str) -> Zone:
    r = _Reader(table, where, {"name", "polygon", "role", "crowd_threshold"})
    points = r.required("polygon", list)
    try:
        polygon = tuple((float(x), float(y)) for x, y in points)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.polygon={points!r}: expected [[x, y], ...]") from None
    if len(polygon) < 3 or any(not (0 <= v <= 1) for p in polygon for v in p):
        raise ConfigError(f"{where}.polygon={points!r}: need >= 3 points normalised to 0..1")
    role = r.get("role", str, "count")
    if role not in ZONE_ROLES:
        raise ConfigError(f"{where}.role={role!r}: expected one of {', '.join(sorted(ZONE_ROLES))}")
    return Zone(r.required("name", str), polygon, role, r.get("crowd_threshold", int))


def _meals(table: Mapping[str, Any], where: str) -> dict[str, tuple[time, time]]:
    out = {}
    for meal, span in table.items():
        match = _MEAL.match(span) if isinstance(span, str) else None
        if match is None:
            raise ConfigError(f"{where}.meals.{meal}={span!r}: expected 'HH:MM-HH:MM'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            out[meal] = (time(h1, m1), time(h2, m2))
        except ValueError:
            raise ConfigError(f"{where}.meals.{meal}={span!r}: not a time of day") from None
    return out


def _detectors(names: list[Any], where: str, models: Mapping[str, ModelConfig]) -> tuple[str, ...]:
    for name in names:
        if name in BUILTIN_DETECTORS:
            continue
        if isinstance(name, str) and name.startswith("model:") and name[len("model:"):] in models:
            continue
        raise ConfigError(
            f"{where}.detectors: {name!r} is not one of {', '.join(sorted(BUILTIN_DETECTORS))}"
            " or model:<name> of a configured [models.<name>]"
        )
    return tuple(names)


_CAMERA_KEYS = {
    "id", "url", "kind", "site_id", "detectors", "sample_fps", "location", "gps", "started_at",
    "zones", "snapshots", "crowd_threshold", "min_interval_s", "meals", "timezone", "enabled",
}


def _camera(table: Mapping[str, Any], i: int, base: Path, models: Mapping[str, ModelConfig]
            ) -> CameraConfig:
    where = f"cameras[{i}]"
    r = _Reader(table, where, _CAMERA_KEYS)
    kind = r.get("kind", str, "camera")
    if kind not in {"camera", "dashcam"}:
        raise ConfigError(f"{where}.kind={kind!r}: expected camera or dashcam")
    started = _started_at(r.get("started_at", (str, datetime)), where)
    zones = tuple(_zone(z, f"{where}.zones[{j}]") for j, z in enumerate(r.get("zones", list, [])))
    camera = CameraConfig(
        id=r.required("id", str), url=_source_url(base, r.required("url", str)),
        source_kind=SourceKind(kind), site_id=r.get("site_id", str),
        detectors=_detectors(r.get("detectors", list, ["objects"]), where, models),
        sample_fps=r.positive("sample_fps", 2.0),
        location=_location(r.get("location", dict), where),
        gps=_path(base, r.get("gps", str)), started_at=started,
        zones=zones or (WHOLE_FRAME,), snapshots=r.get("snapshots", bool, False),
        crowd_threshold=r.get("crowd_threshold", int, 10),
        min_interval_s=float(r.get("min_interval_s", (int, float), 1.0)),
        meals=_meals(r.get("meals", dict, {}), where), timezone=r.get("timezone", str, "UTC"),
    )
    _check_camera(camera, where)
    return camera


def _source_url(base: Path, url: str) -> str:
    """URLs stay as given; a plain file or folder path is relative to the cameras file."""
    return url if "://" in url else str(_path(base, url))


def _started_at(value: str | datetime | None, where: str) -> datetime | None:
    try:
        started = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        raise ConfigError(f"{where}.started_at={value!r}: expected an RFC 3339 time") from None
    if started is not None and started.tzinfo is None:
        raise ConfigError(f"{where}.started_at={value!r}: needs a UTC offset")
    return started


def _location(value: Mapping[str, Any] | None, where: str) -> tuple[float, float] | None:
    if not value:
        return None
    try:
        return float(value["lat"]), float(value["lon"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{where}.location={value!r}: expected {{lat = .., lon = ..}}") from None


def _check_camera(cam: CameraConfig, where: str) -> None:
    """Cross-field rules: what an enabled detector needs from the camera."""
    if "canteen" in cam.detectors:
        if not cam.site_id:
            raise ConfigError(f"{where}.site_id: required when the canteen detector is enabled")
        if not any(z.role == "canteen" for z in cam.zones):
            raise ConfigError(f"{where}.zones: the canteen detector needs a zone with "
                              "role = 'canteen'")
    if "dumps" in cam.detectors and not any(z.role in {"dump", "container"} for z in cam.zones):
        raise ConfigError(f"{where}.zones: the dumps detector needs a zone with role "
                          "'dump' or 'container'")
    try:
        ZoneInfo(cam.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.timezone={cam.timezone!r}: unknown time zone") from None


def _model(name: str, table: Mapping[str, Any], base: Path) -> ModelConfig:
    where = f"models.{name}"
    r = _Reader(table, where, {"path", "name", "version", "classes", "score_threshold",
                               "iou_threshold", "input_size"})
    path = _path(base, r.required("path", str))
    if path is None or not path.is_file():
        raise ConfigError(f"{where}.path={str(path)!r}: no such model file")
    classes: dict[int, Kind] = {}
    for key, kind in r.get("classes", dict, {}).items():
        try:
            classes[int(key)] = Kind(kind)
        except ValueError:
            raise ConfigError(f"{where}.classes.{key}={kind!r}: expected a class index "
                              "mapped to a detection kind") from None
    return ModelConfig(
        name=r.get("name", str, name), path=path, version=r.get("version", str, "unversioned"),
        classes=classes, score_threshold=r.positive("score_threshold", 0.35),
        iou_threshold=r.positive("iou_threshold", 0.5),
        input_size=int(r.positive("input_size", 640)),
    )


def _default_models() -> dict[str, ModelConfig]:
    out = {}
    for key, (shipped, name, version) in _DEFAULT_MODELS.items():
        path = shipped_path(shipped)
        if path is not None:
            out[key] = ModelConfig(name=name, path=path, version=version)
    return out


_DETECTOR_KEYS = {
    "node", "heartbeat_s", "batch_size", "batch_wait_s", "intra_threads", "prefer_gpu",
    "queue_size", "frame_queue_size", "face_threshold", "wanted_plates", "publish_all_plates",
    "plate_min_width", "open_timeout_s", "read_timeout_s", "reconnect_max_s", "face_runtime",
}


def mqtt_config(url: str, topics: list[str], *, qos: int = 1, client_id: str | None = None,
                username: str | None = None, password: str | None = None,
                where: str = "mqtt") -> MqttConfig:
    """Validate MQTT settings (`url` is mqtt://host[:port] or mqtts://host[:port])."""
    parsed = urllib.parse.urlsplit(url)
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if parsed.scheme not in {"mqtt", "mqtts"} or not parsed.hostname or port == -1:
        raise ConfigError(f"{where}.url={url!r}: expected mqtt://host[:port] or "
                          "mqtts://host[:port]")
    tls = parsed.scheme == "mqtts"
    if not topics or not all(isinstance(t, str) and t.strip() for t in topics):
        raise ConfigError(f"{where}.topics={topics!r}: expected a non-empty list of topic "
                          "filters, e.g. ['kuzet/sensors/+/alarm']")
    if qos not in {0, 1, 2}:
        raise ConfigError(f"{where}.qos={qos!r}: expected 0, 1 or 2")
    return MqttConfig(host=parsed.hostname, port=port or (8883 if tls else 1883),
                      topics=tuple(topics), qos=qos, tls=tls, client_id=client_id,
                      username=username, password=password)


def _mqtt(table: Mapping[str, Any] | None) -> MqttConfig | None:
    if table is None:
        return None
    r = _Reader(table, "mqtt", {"url", "topics", "qos", "client_id", "username"})
    return mqtt_config(r.required("url", str), r.required("topics", list),
                       qos=r.get("qos", int, 1), client_id=r.get("client_id", str),
                       username=r.get("username", str))


def build_config(data: Mapping[str, Any], *, data_dir: Path, base_dir: Path) -> DetectConfig:
    """Validate a parsed cameras file into a `DetectConfig` (paths relative to `base_dir`)."""
    unknown = sorted(set(data) - {"detector", "models", "cameras", "mqtt"})
    if unknown:
        raise ConfigError(f"cameras file: unknown table(s) {', '.join(unknown)}")
    models = _default_models()
    for name, table in dict(data.get("models", {})).items():
        models[name] = _model(name, table, base_dir)
    cams = [c for c in data.get("cameras", []) if c.get("enabled", True)]
    cameras = tuple(_camera(c, i, base_dir, models) for i, c in enumerate(cams))
    ids = [c.id for c in cameras]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"cameras: duplicate id(s) {', '.join(twice)}")
    r = _Reader(data.get("detector", {}), "detector", _DETECTOR_KEYS)
    return DetectConfig(
        cameras=cameras, models=models, data_dir=data_dir,
        node=r.get("node", str, "detector"), heartbeat_s=r.positive("heartbeat_s", 5.0),
        batch_size=int(r.positive("batch_size", 8)),
        batch_wait_s=r.positive("batch_wait_s", 0.05),
        intra_threads=r.get("intra_threads", int, 0), prefer_gpu=r.get("prefer_gpu", bool, True),
        queue_size=int(r.positive("queue_size", 10_000)),
        frame_queue_size=int(r.positive("frame_queue_size", 64)),
        face_threshold=r.positive("face_threshold", 0.363),
        wanted_plates=frozenset(normalise_plate(p) for p in r.get("wanted_plates", list, [])),
        publish_all_plates=r.get("publish_all_plates", bool, True),
        plate_min_width=int(r.positive("plate_min_width", 120)),
        open_timeout_s=r.positive("open_timeout_s", 5.0),
        read_timeout_s=r.positive("read_timeout_s", 5.0),
        reconnect_max_s=r.positive("reconnect_max_s", 30.0),
        face_runtime=_face_runtime(r.get("face_runtime", str, "opencv")),
        mqtt=_mqtt(data.get("mqtt")),
    )


def _face_runtime(value: str) -> str:
    if value not in FACE_RUNTIMES:
        raise ConfigError(f"detector.face_runtime={value!r}: expected one of "
                          f"{', '.join(sorted(FACE_RUNTIMES))}")
    return value


def load_cameras_file(path: Path, *, data_dir: Path) -> DetectConfig:
    """Read and validate a cameras TOML file."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cameras file {str(path)!r}: {exc}") from None
    return build_config(data, data_dir=data_dir, base_dir=path.parent)


def single_camera(url: str, camera_id: str, detectors: list[str], *, data_dir: Path,
                  extra: Mapping[str, Any] | None = None) -> DetectConfig:
    """The config for `kuzet detect --source URL --camera ID --detectors ...`."""
    camera = {"id": camera_id, "url": url, "detectors": detectors, **(extra or {})}
    return build_config({"cameras": [camera]}, data_dir=data_dir, base_dir=Path.cwd())
